"""
The figures of a conference's admin dashboard, read through the owning
apps' selectors in a fixed number of queries (seven, whatever the size of
the conference): registrations and check-ins per hour, side-event fill,
quest funnels, broadcast outcomes and Telegram reach.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from broadcasts import selectors as broadcasts
from conferences import selectors as conferences
from conferences.models import Conference
from events import selectors as events
from quests import selectors as quests

# The hourly chart shows at most this many hours, ending at the latest activity; earlier ones are summed.
MAX_HOURS = 7 * 24


def hourly_series(
    registered: dict[datetime, int], checked_in: dict[datetime, int], *, zone: ZoneInfo, max_hours: int = MAX_HOURS
) -> dict:
    """
    Both per-hour counts on one axis of consecutive hours (empty hours as 0),
    labelled in ``zone``: the last ``max_hours`` up to the latest activity,
    with what came before summed in ``earlier``.
    """
    hours = {hour.astimezone(UTC) for hour in (*registered, *checked_in)}
    series: dict = {"labels": [], "registered": [], "checked_in": [], "earlier": {"registered": 0, "checked_in": 0}}
    if not hours:
        return series
    by_utc = [{h.astimezone(UTC): n for h, n in counts.items()} for counts in (registered, checked_in)]
    last = max(hours)
    first = max(min(hours), last - timedelta(hours=max_hours - 1))
    for name, counts in zip(("registered", "checked_in"), by_utc, strict=True):
        series["earlier"][name] = sum(n for hour, n in counts.items() if hour < first)
    hour = first
    while hour <= last:
        series["labels"].append(hour.astimezone(zone).strftime("%a %d %b %H:00"))
        series["registered"].append(by_utc[0].get(hour, 0))
        series["checked_in"].append(by_utc[1].get(hour, 0))
        hour += timedelta(hours=1)
    return series


def conference_dashboard(conference: Conference) -> dict:
    """Every figure of ``conference``'s dashboard as plain JSON-ready data (seven queries)."""
    zone = ZoneInfo(conference.timezone)
    registered, checked_in = conferences.attendances_per_hour(conference)
    reach = conferences.telegram_reach(conference)
    side_events = [
        {
            "title": event.title,
            "starts_at": event.starts_at.astimezone(zone).strftime("%a %d %b %H:%M"),
            "capacity": event.capacity,
            "going": event.going_count,
            "waitlist": event.waitlist_count,
            "free": max(event.capacity - event.going_count, 0) if event.capacity is not None else None,
        }
        for event in events.event_fill(conference.pk)
    ]
    funnels = [
        {"title": funnel.title, "tasks": funnel.tasks, "stages": [list(stage) for stage in funnel.stages]}
        for funnel in quests.quest_funnels(conference.pk)
    ]
    deliveries = [
        {**row, "created_at": row["created_at"].astimezone(zone).strftime("%a %d %b %H:%M")}
        for row in reversed(broadcasts.delivery_outcomes(conference.slug))
    ]
    return {
        "conference": {"name": conference.name, "slug": conference.slug, "timezone": conference.timezone},
        "totals": {
            "registered": reach["registered"],
            "checked_in": sum(checked_in.values()),
            "events": len(side_events),
            "going": sum(event["going"] for event in side_events),
            "waitlist": sum(event["waitlist"] for event in side_events),
            "reachable": reach["reachable"],
        },
        "hourly": hourly_series(registered, checked_in, zone=zone),
        "events": side_events,
        "funnels": funnels,
        "broadcasts": deliveries,
        "reach": reach,
    }
