"""
``python manage.py seed_demo``: a small demo conference for a fresh checkout.

Idempotent: a second run finds the demo conference and changes nothing.
With ``DEBUG`` on it also creates the admin ``admin@ibw.local`` (password
``DEMO_ADMIN_PASSWORD``, default ``ibw-admin``) so the admin can be opened.
"""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from conferences.models import Conference, Room, Session, SessionSpeaker, Speaker, Track
from events.models import Event
from users.models import User

DEMO_SLUG = "ibw-demo"
TALKS = [
    ("09:00", 45, "Main Stage", "Ecosystem", "Opening keynote: the state of the ecosystem", ["Ada Lovelace"]),
    ("10:00", 30, "Main Stage", "Research", "Zero-knowledge proofs in production", ["Alan Turing", "Grace Hopper"]),
    ("10:00", 30, "Workshop Room", "Builders", "Hands-on: shipping a Telegram Mini App", ["Linus Torvalds"]),
    ("11:00", 45, "Main Stage", "Ecosystem", "Panel: funding the next wave", ["Ada Lovelace", "Grace Hopper"]),
    ("13:30", 30, "Workshop Room", "Research", "Rollups explained", ["Alan Turing"]),
    ("15:00", 45, "Main Stage", "Builders", "Closing: what we learned this week", ["Linus Torvalds"]),
]


class Command(BaseCommand):
    help = "Load a small demo conference (idempotent)."

    def handle(self, *args, **options) -> None:
        if settings.DEBUG:
            self._ensure_admin()
        if Conference.objects.filter(slug=DEMO_SLUG).exists():
            self.stdout.write("Demo conference already loaded.")
            return
        with transaction.atomic():
            conference = self._load_conference()
        self.stdout.write(self.style.SUCCESS(f"Loaded demo conference '{conference.slug}'."))

    def _ensure_admin(self) -> None:
        email = "admin@ibw.local"
        if not User.objects.filter(email=email).exists():
            User.objects.create_superuser(
                email, os.environ.get("DEMO_ADMIN_PASSWORD", "ibw-admin"), first_name="Demo", last_name="Admin"
            )
            self.stdout.write(f"Created admin {email} (password from DEMO_ADMIN_PASSWORD, default ibw-admin).")

    def _load_conference(self) -> Conference:
        tz = ZoneInfo("Europe/Istanbul")
        day = timezone.localdate(timezone=tz)
        conference = Conference.objects.create(
            slug=DEMO_SLUG,
            name="IBW Demo Conference",
            venue="Halic Congress Center",
            description="A demo day of talks, a side event and a quest.",
            timezone="Europe/Istanbul",
            starts_on=day,
            ends_on=day + timedelta(days=2),
        )
        rooms = {
            name: Room.objects.create(conference=conference, name=name, position=i)
            for i, name in enumerate(["Main Stage", "Workshop Room"])
        }
        tracks = {
            name: Track.objects.create(conference=conference, name=name)
            for name in ["Ecosystem", "Research", "Builders"]
        }
        speakers: dict[str, Speaker] = {}
        for n, (start, minutes, room, track, title, names) in enumerate(TALKS):
            hour, minute = map(int, start.split(":"))
            starts_at = datetime.combine(day, time(hour, minute), tzinfo=tz)
            session = Session.objects.create(
                conference=conference,
                guid=f"demo-{n}",
                title=title,
                abstract=f"{title}.",
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=minutes),
                room=rooms[room],
                track=tracks[track],
                type="talk",
                language="en",
            )
            for position, name in enumerate(names):
                if name not in speakers:
                    speakers[name] = Speaker.objects.create(
                        conference=conference,
                        external_id=name.lower().replace(" ", "-"),
                        name=name,
                        bio=f"{name} speaks at IBW.",
                    )
                SessionSpeaker.objects.create(session=session, speaker=speakers[name], position=position)
        evening = datetime.combine(day, time(19, 0), tzinfo=tz)
        Event.objects.create(
            conference=conference,
            title="Builders' rooftop drinks",
            description="Meet the speakers.",
            starts_at=evening,
            ends_at=evening + timedelta(hours=3),
            location="Rooftop, Galata",
            capacity=80,
        )
        from quests.services import create_demo_quest

        create_demo_quest(conference)
        return conference
