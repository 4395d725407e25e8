"""
``python manage.py seed_demo``: a small demo conference for a fresh checkout
(``make run`` runs it).

It writes rows of several apps, so it lives with the project rather than in
one of them, and it writes only through their services: the conference
through ``conferences.services`` (its agenda as a frab schedule, through
the same import staff use), the side event through ``events.services``, the
quest through ``quests.services`` and the admin through ``users.services``.

Idempotent: a second run finds the demo conference and changes nothing.
With ``DEBUG`` on it also creates the admin ``admin@ibw.local`` (password
``DEMO_ADMIN_PASSWORD``, default ``ibw-admin``) so the admin can be opened.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from conferences.models import Conference
from conferences.selectors import conferences
from conferences.services import create_conference, import_schedule
from events.services import create_event
from quests.services import create_demo_quest
from users.services import ensure_superuser

DEMO_SLUG = "ibw-demo"
DEMO_ADMIN_EMAIL = "admin@ibw.local"
TIME_ZONE = "Europe/Istanbul"
ROOMS = ["Main Stage", "Workshop Room"]
TRACKS = ["Ecosystem", "Research", "Builders"]
TALKS = [
    ("09:00", 45, "Main Stage", "Ecosystem", "Opening keynote: the state of the ecosystem", ["Ada Lovelace"]),
    ("10:00", 30, "Main Stage", "Research", "Zero-knowledge proofs in production", ["Alan Turing", "Grace Hopper"]),
    ("10:00", 30, "Workshop Room", "Builders", "Hands-on: shipping a Telegram Mini App", ["Linus Torvalds"]),
    ("11:00", 45, "Main Stage", "Ecosystem", "Panel: funding the next wave", ["Ada Lovelace", "Grace Hopper"]),
    ("13:30", 30, "Workshop Room", "Research", "Rollups explained", ["Alan Turing"]),
    ("15:00", 45, "Main Stage", "Builders", "Closing: what we learned this week", ["Linus Torvalds"]),
]


def demo_schedule(day: date) -> dict[str, Any]:
    """The demo day's agenda as a frab ``schedule.json`` (the format ``import_schedule`` reads)."""
    zone = ZoneInfo(TIME_ZONE)
    rooms: dict[str, list[dict[str, Any]]] = {room: [] for room in ROOMS}
    for n, (start, minutes, room, track, title, names) in enumerate(TALKS):
        hour, minute = map(int, start.split(":"))
        rooms[room].append(
            {
                "id": n + 1,
                "guid": f"demo-{n}",
                "date": datetime.combine(day, time(hour, minute), tzinfo=zone).isoformat(),
                "start": start,
                "duration": f"{minutes // 60:02d}:{minutes % 60:02d}",
                "room": room,
                "slug": f"demo-{n}",
                "title": title,
                "subtitle": "",
                "track": track,
                "type": "talk",
                "language": "en",
                "abstract": f"{title}.",
                "url": "",
                "links": [],
                "persons": [
                    {"guid": name.lower().replace(" ", "-"), "name": name, "biography": f"{name} speaks at IBW."}
                    for name in names
                ],
            }
        )
    return {
        "schedule": {
            "version": "demo",
            "conference": {
                "title": "IBW Demo Conference",
                "acronym": DEMO_SLUG,
                "start": day.isoformat(),
                "end": (day + timedelta(days=2)).isoformat(),
                "daysCount": 3,
                "timeslot_duration": "00:15",
                "time_zone_name": TIME_ZONE,
                "rooms": [{"name": room, "guid": f"demo-room-{i}"} for i, room in enumerate(ROOMS)],
                "tracks": [{"name": track} for track in TRACKS],
                "days": [
                    {
                        "index": 1,
                        "date": day.isoformat(),
                        "day_start": datetime.combine(day, time(8), tzinfo=zone).isoformat(),
                        "day_end": datetime.combine(day, time(20), tzinfo=zone).isoformat(),
                        "rooms": rooms,
                    }
                ],
            },
        }
    }


class Command(BaseCommand):
    help = "Load a small demo conference (idempotent)."

    def handle(self, *args, **options) -> None:
        if settings.DEBUG:
            self._ensure_admin()
        if conferences().filter(slug=DEMO_SLUG).exists():
            self.stdout.write("Demo conference already loaded.")
            return
        with transaction.atomic():
            conference = self._load_conference()
        self.stdout.write(self.style.SUCCESS(f"Loaded demo conference '{conference.slug}'."))

    def _ensure_admin(self) -> None:
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "ibw-admin")
        _, created = ensure_superuser(DEMO_ADMIN_EMAIL, password=password, first_name="Demo", last_name="Admin")
        if created:
            self.stdout.write(
                f"Created admin {DEMO_ADMIN_EMAIL} (password from DEMO_ADMIN_PASSWORD, default ibw-admin)."
            )

    def _load_conference(self) -> Conference:
        zone = ZoneInfo(TIME_ZONE)
        day = timezone.localdate(timezone=zone)
        conference = create_conference(
            slug=DEMO_SLUG,
            name="IBW Demo Conference",
            venue="Halic Congress Center",
            description="A demo day of talks, a side event and a quest.",
            timezone=TIME_ZONE,
            starts_on=day,
            ends_on=day + timedelta(days=2),
        )
        import_schedule(conference, demo_schedule(day))
        evening = datetime.combine(day, time(19, 0), tzinfo=zone)
        create_event(
            host=None,
            conference=conference,
            title="Builders' rooftop drinks",
            description="Meet the speakers.",
            starts_at=evening,
            ends_at=evening + timedelta(hours=3),
            location="Rooftop, Galata",
            capacity=80,
        )
        create_demo_quest(conference)
        return conference
