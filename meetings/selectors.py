"""
Reads for meetings: windows, the slot finder, a person's meetings, and what
other apps show (calendar feed, the bot's ``/next``, recommendations).

Each read is a fixed number of queries whatever the number of rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, F, FilteredRelation, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from conferences.models import Bookmark, Conference
from connections.errors import UnknownPerson
from connections.models import Block
from connections.selectors import is_blocked_between
from meetings.errors import InvalidMeetingInput, MeetingNotFound
from meetings.models import Meeting, MeetingSeat, MeetingSlot, MeetingStatus, MeetingTable, MeetingWindow
from users.models import User


@dataclass(frozen=True)
class FreeSlot:
    starts_at: datetime
    ends_at: datetime


def meeting_windows_for(conference: Conference) -> QuerySet[MeetingWindow]:
    """Return the conference's windows by start, with tables and slots loaded (three queries)."""
    return (
        MeetingWindow.objects.filter(conference=conference)
        .select_related("conference")
        .prefetch_related(
            Prefetch("tables", queryset=MeetingTable.objects.order_by("position", "id")),
            Prefetch("slots", queryset=MeetingSlot.objects.order_by("starts_at")),
        )
        .order_by("starts_at", "id")
    )


def _slots_with_free_tables(conference: Conference, *, after: datetime) -> QuerySet[MeetingSlot]:
    """The conference's slots starting after ``after`` with at least one table not holding an accepted meeting."""
    tables = (
        MeetingTable.objects.filter(window=OuterRef("window_id"))
        .order_by()
        .values("window")
        .annotate(n=Count("pk"))
        .values("n")
    )
    taken = (
        Meeting.objects.filter(slot=OuterRef("pk"), status=MeetingStatus.ACCEPTED)
        .order_by()
        .values("slot")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        MeetingSlot.objects.filter(window__conference=conference, starts_at__gt=after)
        .annotate(
            table_count=Coalesce(Subquery(tables, output_field=IntegerField()), 0),
            taken_count=Coalesce(Subquery(taken, output_field=IntegerField()), 0),
        )
        .filter(taken_count__lt=F("table_count"))
        .order_by("starts_at", "id")
    )


def free_slots_for_pair(
    conference: Conference, *, user: User, other_id: int, now: datetime | None = None
) -> list[FreeSlot]:
    """
    Return the conference's upcoming slots in which neither ``user`` nor the
    person ``other_id`` holds an accepted meeting and a table is free, by time.

    400 for ``user`` themself; 404 ``NOT_FOUND`` for an unknown person or
    one blocked either way. Three queries (the person, blocks, the slots),
    whatever the number of windows, slots, tables and meetings.
    """
    if other_id == user.pk:
        raise InvalidMeetingInput("with", "Pick someone other than yourself.")
    other = User.objects.filter(pk=other_id, is_active=True).first()
    if other is None or is_blocked_between(user.pk, other.pk):
        raise UnknownPerson()
    now = now or timezone.now()
    busy = MeetingSeat.objects.filter(slot=OuterRef("pk"), user_id__in=[user.pk, other.pk])
    rows = _slots_with_free_tables(conference, after=now).exclude(Exists(busy)).values_list("starts_at", "ends_at")
    return [FreeSlot(starts_at, ends_at) for starts_at, ends_at in rows]


def next_free_slots(
    conference: Conference, *, user: User, others: Sequence[int], now: datetime | None = None
) -> dict[int, FreeSlot | None]:
    """
    Return, for each id in ``others``, the first upcoming slot of
    ``conference`` in which neither they nor ``user`` hold an accepted
    meeting and a table is free (``None`` when there is none).

    One query: the free slots, each with the seats held in it by ``user``
    or any of ``others``.
    """
    now = now or timezone.now()
    result: dict[int, FreeSlot | None] = dict.fromkeys(others)
    if not others:
        return result
    people = [user.pk, *others]
    rows = (
        _slots_with_free_tables(conference, after=now)
        .annotate(busy=FilteredRelation("seats", condition=Q(seats__user_id__in=people)))
        .values_list("pk", "starts_at", "ends_at", "busy__user_id")
    )
    order: list[int] = []
    times: dict[int, FreeSlot] = {}
    busy: dict[int, set[int]] = defaultdict(set)
    for slot_id, starts_at, ends_at, busy_user in rows:
        if slot_id not in times:
            order.append(slot_id)
            times[slot_id] = FreeSlot(starts_at, ends_at)
        if busy_user is not None:
            busy[slot_id].add(busy_user)
    open_slots = [slot_id for slot_id in order if user.pk not in busy[slot_id]]
    for other_id in others:
        result[other_id] = next((times[s] for s in open_slots if other_id not in busy[s]), None)
    return result


def _hidden_by_blocks(user: User) -> Q:
    """Meetings whose other person blocked ``user`` or was blocked by them: hidden, as for unknown people."""
    blocked = Block.objects.filter(blocker=user).values("blocked_id")
    blockers = Block.objects.filter(blocked=user).values("blocker_id")
    return (
        Q(requester_id__in=blocked)
        | Q(recipient_id__in=blocked)
        | Q(requester_id__in=blockers)
        | Q(recipient_id__in=blockers)
    )


def meetings_for(user: User, *, conference: str | None = None, status: str | None = None) -> QuerySet[Meeting]:
    """
    Return ``user``'s meetings (either side) by start time, with the
    conference, both people and the table loaded. ``conference`` is a slug.
    Meetings with someone blocked either way are left out.
    """
    meetings = Meeting.objects.filter(Q(requester=user) | Q(recipient=user)).exclude(_hidden_by_blocks(user))
    if conference:
        meetings = meetings.filter(conference__slug=conference)
    if status:
        meetings = meetings.filter(status=status)
    return meetings.select_related("conference", "requester", "recipient", "table").order_by("starts_at", "id")


def access_meeting(user: User, meeting_id: int) -> Meeting:
    """Return a meeting ``user`` is part of, or raise ``MeetingNotFound`` (also when blocked either way)."""
    meeting = meetings_for(user).filter(pk=meeting_id).first()
    if meeting is None:
        raise MeetingNotFound()
    return meeting


def attach_conflicts(meetings: Iterable[Meeting], *, user: User) -> list[Meeting]:
    """
    Set ``conflicts_with`` on each meeting: the ids of ``user``'s bookmarked
    sessions overlapping it, ascending. One query for any number of meetings.
    """
    meetings = list(meetings)
    if not meetings:
        return meetings
    earliest = min(m.starts_at for m in meetings)
    latest = max(m.ends_at for m in meetings)
    bookmarked = list(
        Bookmark.objects.filter(user=user, session__starts_at__lt=latest, session__ends_at__gt=earliest)
        .order_by("session_id")
        .values_list("session_id", "session__starts_at", "session__ends_at")
    )
    for meeting in meetings:
        meeting.conflicts_with = [
            session_id
            for session_id, starts_at, ends_at in bookmarked
            if starts_at < meeting.ends_at and meeting.starts_at < ends_at
        ]
    return meetings


def accepted_meetings_for_calendar(user: User) -> QuerySet[Meeting]:
    """Return ``user``'s accepted meetings with conference, both people and table loaded, for the calendar feed."""
    return meetings_for(user, status=MeetingStatus.ACCEPTED)


def next_accepted_meeting(user: User, *, now: datetime | None = None) -> Meeting | None:
    """Return ``user``'s next accepted meeting that has not ended, or ``None`` (one query)."""
    now = now or timezone.now()
    return meetings_for(user, status=MeetingStatus.ACCEPTED).filter(ends_at__gt=now).first()


def meetings_on_day(conference: Conference, *, start: datetime, end: datetime) -> QuerySet[Meeting]:
    """Accepted meetings of ``conference`` starting in [start, end), by time and table, for the venue staff."""
    return (
        Meeting.objects.filter(
            conference=conference, status=MeetingStatus.ACCEPTED, starts_at__gte=start, starts_at__lt=end
        )
        .select_related("requester", "recipient", "table")
        .order_by("starts_at", "table__position", "table__name", "id")
    )
