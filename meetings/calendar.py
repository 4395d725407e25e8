"""
The personal calendar feed: a person's bookmarked sessions (every
conference), the side events they RSVPed to, and their accepted meetings.
It lives in ``meetings`` because that is the highest layer it reads
(meetings sit above events and conferences); sessions and events are
rendered by ``events.calendar`` / ``conferences.calendar``.
"""

from __future__ import annotations

from conferences.calendar import CalendarItem, render_calendar, session_item, uid_host
from conferences.selectors import bookmarked_sessions_for_feed
from events.calendar import event_item
from events.selectors import rsvps_for_calendar
from meetings.models import Meeting
from meetings.selectors import accepted_meetings_for_calendar
from users.models import User


def meeting_item(meeting: Meeting, *, viewer: User, host: str) -> CalendarItem:
    """An accepted meeting as ``viewer`` sees it (the other person, the table); needs both people and the table loaded."""
    other = meeting.recipient if meeting.requester_id == viewer.pk else meeting.requester
    table = meeting.table.name if meeting.table else ""
    venue = meeting.conference.venue
    return CalendarItem(
        uid=f"meeting-{meeting.pk}@{uid_host(host)}",
        summary=f"Meeting: {other.get_display_name()}",
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        stamp=meeting.responded_at or meeting.created_at,
        description=meeting.message,
        location=f"Table {table}" + (f", {venue}" if venue else ""),
    )


def personal_calendar(user: User, *, host: str) -> bytes:
    """
    Return ``user``'s feed as iCalendar bytes: bookmarked sessions, RSVPed
    events and accepted meetings, by start time (three queries).
    """
    items: list[CalendarItem] = [session_item(session, host=host) for session in bookmarked_sessions_for_feed(user)]
    items += [event_item(rsvp.event, rsvp_status=rsvp.status, host=host) for rsvp in rsvps_for_calendar(user)]
    items += [meeting_item(m, viewer=user, host=host) for m in accepted_meetings_for_calendar(user)]
    items.sort(key=lambda item: item.starts_at)
    return render_calendar(f"IBW: {user.get_display_name() or 'my agenda'}", items)
