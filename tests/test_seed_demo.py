"""``manage.py seed_demo`` (a project-wide command in ``ibw``): the demo ``make run`` loads."""

from __future__ import annotations

import io
from datetime import time
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command, get_commands
from django.utils import timezone

from conferences.models import Conference, Room, Session, Speaker, Track
from events.models import Event
from quests.models import Quest
from users.models import User

pytestmark = pytest.mark.django_db


def _agenda(conference: Conference) -> list[tuple]:
    zone = ZoneInfo(conference.timezone)
    return [
        (
            session.starts_at.astimezone(zone).time(),
            int((session.ends_at - session.starts_at).total_seconds() // 60),
            session.room.name,
            session.track.name,
            session.title,
            [link.speaker.name for link in session.sessionspeaker_set.order_by("position")],
        )
        for session in Session.objects.filter(conference=conference)
        .select_related("room", "track")
        .order_by("starts_at", "room__name")
    ]


def test_seed_demo_is_a_project_command():
    assert get_commands()["seed_demo"] == "ibw"


def test_seed_demo_loads_the_demo_conference_through_the_services(settings):
    settings.DEBUG = True
    out = io.StringIO()

    call_command("seed_demo", stdout=out)

    conference = Conference.objects.get(slug="ibw-demo")
    today = timezone.localdate(timezone=ZoneInfo("Europe/Istanbul"))
    assert (conference.name, conference.timezone, conference.starts_on, (conference.ends_on - today).days) == (
        "IBW Demo Conference",
        "Europe/Istanbul",
        today,
        2,
    )
    assert list(Room.objects.filter(conference=conference).order_by("name").values_list("name", flat=True)) == [
        "Main Stage",
        "Workshop Room",
    ]
    assert sorted(Track.objects.filter(conference=conference).values_list("name", flat=True)) == [
        "Builders",
        "Ecosystem",
        "Research",
    ]
    assert _agenda(conference) == [
        (time(9, 0), 45, "Main Stage", "Ecosystem", "Opening keynote: the state of the ecosystem", ["Ada Lovelace"]),
        (
            time(10, 0),
            30,
            "Main Stage",
            "Research",
            "Zero-knowledge proofs in production",
            ["Alan Turing", "Grace Hopper"],
        ),
        (time(10, 0), 30, "Workshop Room", "Builders", "Hands-on: shipping a Telegram Mini App", ["Linus Torvalds"]),
        (time(11, 0), 45, "Main Stage", "Ecosystem", "Panel: funding the next wave", ["Ada Lovelace", "Grace Hopper"]),
        (time(13, 30), 30, "Workshop Room", "Research", "Rollups explained", ["Alan Turing"]),
        (time(15, 0), 45, "Main Stage", "Builders", "Closing: what we learned this week", ["Linus Torvalds"]),
    ]
    assert Speaker.objects.filter(conference=conference).count() == 4
    assert list(Event.objects.filter(conference=conference).values_list("title", "capacity", "host")) == [
        ("Builders' rooftop drinks", 80, None)
    ]
    assert Quest.objects.get(conference=conference).tasks.count() == 5
    admin = User.objects.get(email="admin@ibw.local")
    assert (admin.is_staff, admin.is_superuser, admin.check_password("ibw-admin")) == (True, True, True)
    assert "Loaded demo conference 'ibw-demo'." in out.getvalue()


def test_seed_demo_twice_changes_nothing(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    before = [
        list(model.objects.order_by("pk").values_list("pk", flat=True))
        for model in (Conference, Session, Speaker, Event, Quest, User)
    ]
    out = io.StringIO()

    call_command("seed_demo", stdout=out)

    after = [
        list(model.objects.order_by("pk").values_list("pk", flat=True))
        for model in (Conference, Session, Speaker, Event, Quest, User)
    ]
    assert after == before
    assert out.getvalue() == "Demo conference already loaded.\n"


def test_seed_demo_without_debug_creates_no_admin(settings):
    settings.DEBUG = False

    call_command("seed_demo", stdout=io.StringIO())

    assert not User.objects.filter(email="admin@ibw.local").exists()
    assert Session.objects.filter(conference__slug="ibw-demo").count() == 6
