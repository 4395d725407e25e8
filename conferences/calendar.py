"""
iCalendar (RFC 5545) documents and badge QR codes: pure rendering, no queries.

A VEVENT's UID is stable across exports (``<guid>@<host>`` for sessions),
so calendar apps update a moved talk instead of adding a second one, and
its DTSTAMP is the row's ``updated_at``: the same data renders to the same
bytes, which is what the ETag promises.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import icalendar
import segno

from conferences.models import Conference, Session

PRODID = "-//IBW//Conference week agenda//EN"


@dataclass(frozen=True)
class CalendarItem:
    uid: str
    summary: str
    starts_at: datetime
    ends_at: datetime
    stamp: datetime
    description: str = ""
    location: str = ""
    url: str = ""
    categories: list[str] = field(default_factory=list)
    status: str = "CONFIRMED"


def uid_host(host: str) -> str:
    """The request's host without a port, for UIDs (``guid@host``)."""
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def session_item(session: Session, *, host: str) -> CalendarItem:
    """A session as a calendar entry; needs ``room`` and ``track`` loaded."""
    return CalendarItem(
        uid=f"{session.guid}@{uid_host(host)}",
        summary=session.title,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        stamp=session.updated_at,
        description=session.abstract or session.description,
        location=session.room.name if session.room else "",
        url=session.url,
        categories=[session.track.name] if session.track else [],
    )


def render_calendar(name: str, items: Iterable[CalendarItem], *, timezone_name: str | None = None) -> bytes:
    """Return a VCALENDAR with one VEVENT per item (times in UTC); a UID seen twice is kept once."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    if timezone_name:
        calendar.add("x-wr-timezone", timezone_name)
    seen: set[str] = set()
    for item in items:
        if item.uid in seen:
            continue
        seen.add(item.uid)
        event = icalendar.Event()
        event.add("uid", item.uid)
        event.add("dtstamp", item.stamp.astimezone(UTC))
        event.add("dtstart", item.starts_at.astimezone(UTC))
        event.add("dtend", item.ends_at.astimezone(UTC))
        event.add("summary", item.summary)
        if item.description:
            event.add("description", item.description)
        if item.location:
            event.add("location", item.location)
        if item.url:
            event.add("url", item.url)
        if item.categories:
            event.add("categories", item.categories)
        event.add("status", item.status)
        calendar.add_component(event)
    return calendar.to_ical()


def conference_calendar(conference: Conference, sessions: Iterable[Session], *, host: str) -> bytes:
    return render_calendar(
        conference.name,
        (session_item(session, host=host) for session in sessions),
        timezone_name=conference.timezone,
    )


def badge_png(badge_code: str, *, scale: int = 10) -> bytes:
    """The badge code as a QR code PNG (what scanners at the door and connection scans read)."""
    buffer = io.BytesIO()
    segno.make(badge_code, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
