"""
The personal calendar feed: a person's bookmarked sessions (every
conference) and the side events they RSVPed to, rendered by
``conferences.calendar``. It lives here because it combines both apps, and
events sits above conferences.
"""

from __future__ import annotations

from conferences.calendar import CalendarItem, render_calendar, session_item, uid_host
from conferences.selectors import bookmarked_sessions_for_feed
from events.models import Event, RSVPStatus
from events.selectors import rsvps_for_calendar
from users.models import User


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


def personal_calendar(user: User, *, host: str) -> bytes:
    """Return ``user``'s feed as iCalendar bytes: bookmarked sessions and RSVPed events, by start time."""
    items: list[CalendarItem] = [session_item(session, host=host) for session in bookmarked_sessions_for_feed(user)]
    items += [event_item(rsvp.event, rsvp_status=rsvp.status, host=host) for rsvp in rsvps_for_calendar(user)]
    items.sort(key=lambda item: item.starts_at)
    return render_calendar(f"IBW: {user.get_display_name() or 'my agenda'}", items)
