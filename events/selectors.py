"""Reads for side events; ``my_rsvp`` is annotated, so lists cost the same query count for any page size."""

from __future__ import annotations

from datetime import datetime

from django.db.models import CharField, OuterRef, Q, QuerySet, Subquery, Value

from events.errors import EventNotFound
from events.models import RSVP, Event, RSVPStatus
from ibw.search import full_text_search, uses_full_text
from users.models import User

# What ``?ordering=`` may ask of the list; a search is otherwise by relevance.
EVENT_ORDERINGS: dict[str, tuple[str, ...]] = {"starts_at": ("starts_at", "id"), "-starts_at": ("-starts_at", "-id")}


def _with_my_rsvp(events: QuerySet[Event], user: User | None) -> QuerySet[Event]:
    if user is None or not user.is_authenticated:
        return events.annotate(my_rsvp=Value(None, output_field=CharField()))
    mine = RSVP.objects.filter(event=OuterRef("pk"), user=user).values("status")[:1]
    return events.annotate(my_rsvp=Subquery(mine, output_field=CharField()))


def events_list(
    *,
    user: User | None = None,
    conference: str | None = None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
    q: str | None = None,
    ordering: str | None = None,
) -> QuerySet[Event]:
    """
    Return events by start time, with conference and host loaded and the
    caller's RSVP status as ``my_rsvp``. ``q`` searches title, description
    and location (``ibw.search``): by relevance on PostgreSQL, ties by start
    time, unless ``ordering`` (one of ``EVENT_ORDERINGS``) is given.
    """
    events = Event.objects.select_related("conference", "host")
    if conference:
        events = events.filter(conference__slug=conference)
    if starts_after:
        events = events.filter(starts_at__gte=starts_after)
    if starts_before:
        events = events.filter(starts_at__lt=starts_before)
    events = events.order_by(*EVENT_ORDERINGS[ordering or "starts_at"])
    if q and q.strip():
        if uses_full_text(events):
            events = full_text_search(events, q, ranked=not ordering)
        else:
            events = events.filter(Q(title__icontains=q) | Q(description__icontains=q) | Q(location__icontains=q))
    return _with_my_rsvp(events, user)


def access_event(event_id: int, *, user: User | None = None) -> Event:
    """Return the event (any event is public), or raise ``NotFound``."""
    event = events_list(user=user).filter(pk=event_id).first()
    if event is None:
        raise EventNotFound()
    return event


def rsvps_for_event(event: Event) -> QuerySet[RSVP]:
    """The guest list: going first, then the waitlist in order."""
    return (
        RSVP.objects.filter(event=event)
        .select_related("user", "event")
        .order_by("status", "created_at", "id")  # "going" sorts before "waitlisted"
    )


def rsvps_for_calendar(user: User) -> QuerySet[RSVP]:
    """Every RSVP of ``user`` with its event, for their personal calendar."""
    return RSVP.objects.filter(user=user).select_related("event").order_by("event__starts_at", "event_id")


def event_with_conference(event_id: int) -> Event | None:
    """The event ``event_id`` with its conference loaded, or ``None``."""
    return Event.objects.filter(pk=event_id).select_related("conference").first()


def guest_user_ids(
    *, event_id: int | None = None, conference_slug: str | None = None, going_only: bool = False
) -> QuerySet:
    """
    The ids of the people who RSVP'd to ``event_id``, or to any event of the
    conference ``conference_slug`` (``going_only``: only those going, not
    the waitlist); a subquery for ``pk__in`` (broadcast audiences).
    """
    rsvps = RSVP.objects.all()
    if event_id is not None:
        rsvps = rsvps.filter(event_id=event_id)
    if conference_slug is not None:
        rsvps = rsvps.filter(event__conference__slug=conference_slug)
    if going_only:
        rsvps = rsvps.filter(status=RSVPStatus.GOING)
    return rsvps.values("user_id")


def event_fill(conference_id: int) -> QuerySet[Event]:
    """The side events of a conference with their capacity, going and waitlist counts, by start (one query)."""
    return (
        Event.objects.filter(conference_id=conference_id)
        .only("id", "title", "starts_at", "capacity", "going_count", "waitlist_count")
        .order_by("starts_at", "id")
    )
