"""Shared arrangements for the meetings tests: real windows made by the real service."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from meetings.models import MeetingWindow
from meetings.services import create_meeting_window
from tests.factories import AttendanceFactory, UserFactory


def next_hour(hours: int = 2) -> datetime:
    """A whole hour ``hours`` from now (slot starts are exact instants)."""
    return (timezone.now() + timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


def make_window(
    conference, *, starts_at: datetime | None = None, slots: int = 4, slot_minutes: int = 15, tables=("T1", "T2")
) -> MeetingWindow:
    starts_at = starts_at or next_hour()
    return create_meeting_window(
        conference,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=slot_minutes * slots),
        slot_minutes=slot_minutes,
        tables=list(tables),
    )


def attendee(conference, **fields):
    user = UserFactory(**fields)
    AttendanceFactory(conference=conference, user=user)
    return user


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
