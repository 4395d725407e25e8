"""
Side events as calendar entries, for the personal calendar feed
(``meetings.calendar``, the highest layer the feed reads).
"""

from __future__ import annotations

from conferences.calendar import CalendarItem, uid_host
from events.models import Event, RSVPStatus


def event_item(event: Event, *, rsvp_status: str, host: str) -> CalendarItem:
    """An event as a calendar entry; a waitlisted place shows as tentative."""
    return CalendarItem(
        uid=f"event-{event.pk}@{uid_host(host)}",
        summary=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        stamp=event.updated_at,
        description=event.description,
        location=event.location,
        status="TENTATIVE" if rsvp_status == RSVPStatus.WAITLISTED else "CONFIRMED",
    )
