"""
Writes for 1:1 meetings at the venue.

Requests, accept, decline and cancel follow the contract's section
"Meetings (1:1 at the venue)". The invariants (one open meeting per pair and
slot, one accepted meeting per table and slot, one accepted meeting per
person and slot) are database constraints (see ``meetings.models``); the
services add the row locks that turn a race into the contract's answers
(``SLOT_TAKEN``, ``NO_TABLE_FREE``, ``ALREADY_REQUESTED``) instead of a
database error.

Every step notifies the other person with ``notifications.services.notify``
inside the same transaction: nothing leaves the process before it commits.
Blocked people are unknown to each other: a request to them, and any
action on a meeting with them, answers 404 as for someone who does not exist.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from conferences.models import Attendance, Conference
from connections.errors import UnknownPerson
from connections.selectors import is_blocked_between
from ibw.errors import ApplicationError
from meetings.errors import (
    AlreadyRequested,
    InvalidMeetingInput,
    MeetingClosed,
    NoTableFree,
    NotAttending,
    SlotTaken,
    WindowOverlaps,
)
from meetings.models import (
    OPEN_STATUSES,
    Meeting,
    MeetingSeat,
    MeetingSlot,
    MeetingStatus,
    MeetingTable,
    MeetingWindow,
)
from meetings.selectors import access_meeting
from notifications.models import NotificationKind
from notifications.services import notify
from users.models import User

logger = structlog.get_logger(__name__)

MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 240
MAX_TABLES = 500
MAX_SLOTS_PER_WINDOW = 200


class NotTheRecipient(ApplicationError):
    status_code = 403
    code = "PERMISSION_DENIED"
    message = "Only the person invited can answer this meeting request."


# --- windows ---------------------------------------------------------------------


def create_meeting_window(
    conference: Conference,
    *,
    starts_at: datetime,
    ends_at: datetime,
    slot_minutes: int = 15,
    tables: list[str],
) -> MeetingWindow:
    """
    Create a meeting window of ``conference`` with its named ``tables`` and
    its consecutive slots of ``slot_minutes`` (a remainder shorter than a
    slot is not used).

    Raises 400 for bad times, slot length or table names, and 409
    ``CONFLICT`` when it overlaps another window of the conference. Locks
    the conference row, so two overlapping windows created at once cannot
    both pass the overlap check.
    """
    if ends_at <= starts_at:
        raise InvalidMeetingInput("ends_at", "The window must end after it starts.")
    if not MIN_SLOT_MINUTES <= slot_minutes <= MAX_SLOT_MINUTES:
        raise InvalidMeetingInput(
            "slot_minutes", f"Slots last between {MIN_SLOT_MINUTES} and {MAX_SLOT_MINUTES} minutes."
        )
    slot = timedelta(minutes=slot_minutes)
    count = int((ends_at - starts_at) / slot)
    if count < 1:
        raise InvalidMeetingInput("ends_at", "The window is shorter than one slot.")
    if count > MAX_SLOTS_PER_WINDOW:
        raise InvalidMeetingInput("ends_at", f"A window holds at most {MAX_SLOTS_PER_WINDOW} slots.")
    names = [" ".join(name.split()) for name in tables]
    if not names or any(not name for name in names):
        raise InvalidMeetingInput("tables", "Name at least one table; names cannot be blank.")
    if len(names) > MAX_TABLES:
        raise InvalidMeetingInput("tables", f"A window has at most {MAX_TABLES} tables.")
    if len({name.casefold() for name in names}) != len(names):
        raise InvalidMeetingInput("tables", "Table names must be unique.")
    with transaction.atomic():
        Conference.objects.select_for_update().filter(pk=conference.pk).first()
        if MeetingWindow.objects.filter(conference=conference, starts_at__lt=ends_at, ends_at__gt=starts_at).exists():
            raise WindowOverlaps()
        window = MeetingWindow.objects.create(
            conference=conference, starts_at=starts_at, ends_at=ends_at, slot_minutes=slot_minutes
        )
        MeetingTable.objects.bulk_create(
            [MeetingTable(window=window, name=name, position=i) for i, name in enumerate(names)]
        )
        MeetingSlot.objects.bulk_create(
            [
                MeetingSlot(window=window, starts_at=starts_at + i * slot, ends_at=starts_at + (i + 1) * slot)
                for i in range(count)
            ]
        )
    logger.info("meeting_window_created", window=window.pk, conference=conference.slug, slots=count)
    return window


# --- notifications ---------------------------------------------------------------


def _local_time(meeting: Meeting) -> str:
    return f"{timezone.localtime(meeting.starts_at, ZoneInfo(meeting.conference.timezone)):%a %H:%M}"


def _notify(meeting: Meeting, *, to: User, about: User, kind: NotificationKind, title: str, body: str = "") -> None:
    notify(
        to,
        kind=kind,
        title=title[:200],
        body=body,
        data={"conference": meeting.conference.slug, "meeting": meeting.pk, "user": about.pk},
    )


# --- requests and answers --------------------------------------------------------


def request_meeting(
    user: User, *, conference: Conference, with_user_id: int, starts_at: datetime, message: str = ""
) -> Meeting:
    """
    Ask ``with_user_id`` to meet in the slot of ``conference`` starting at
    ``starts_at``; the recipient is notified (``meeting_requested``).

    400 to yourself or for a time that is not an upcoming slot start; 404
    for an unknown person or one blocked either way; 409 ``NOT_ATTENDING``
    unless both are registered for the conference; 409 ``ALREADY_REQUESTED``
    when the pair already has a pending or accepted meeting in that slot
    (the partial unique constraint decides between racing requests).
    """
    if with_user_id == user.pk:
        raise InvalidMeetingInput("with", "You cannot request a meeting with yourself.")
    other = User.objects.filter(pk=with_user_id, is_active=True).first()
    if other is None or is_blocked_between(user.pk, other.pk):
        raise UnknownPerson()
    slot = (
        MeetingSlot.objects.filter(window__conference=conference, starts_at=starts_at).select_related("window").first()
    )
    if slot is None:
        raise InvalidMeetingInput("starts_at", "This is not the start of a meeting slot of this conference.")
    if slot.starts_at <= timezone.now():
        raise InvalidMeetingInput("starts_at", "This slot has already started.")
    if Attendance.objects.filter(conference=conference, user_id__in=[user.pk, other.pk]).count() != 2:
        raise NotAttending()
    pair = Q(requester=user, recipient=other) | Q(requester=other, recipient=user)
    if Meeting.objects.filter(pair, slot=slot, status__in=OPEN_STATUSES).exists():
        raise AlreadyRequested()
    try:
        with transaction.atomic():
            meeting = Meeting.objects.create(
                conference=conference,
                slot=slot,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                requester=user,
                recipient=other,
                message=message,
            )
            _notify(
                meeting,
                to=other,
                about=user,
                kind=NotificationKind.MEETING_REQUESTED,
                title=f"{user.get_display_name()} wants to meet you at {_local_time(meeting)}",
                body=message,
            )
    except IntegrityError as exc:
        # A racing request for the same pair and slot won (meeting_one_open_per_pair_slot).
        raise AlreadyRequested() from exc
    return meeting


def _answerable(user: User, meeting_id: int) -> Meeting:
    """A meeting ``user`` received; 404 when not theirs (or blocked), 403 for its requester."""
    meeting = access_meeting(user, meeting_id)
    if meeting.recipient_id != user.pk:
        raise NotTheRecipient()
    return meeting


def accept_meeting(user: User, *, meeting_id: int) -> Meeting:
    """
    Accept a meeting request ``user`` received and assign it a free table;
    the requester is notified (``meeting_accepted``). Accepting an accepted
    meeting again returns it unchanged.

    Locks the slot's row, then the meeting's: accepts in one slot run one at
    a time, so the checks below see every earlier accept. 409 ``SLOT_TAKEN``
    when either person already holds an accepted meeting overlapping this
    one; 409 ``NO_TABLE_FREE`` when every table of the window is taken in
    the slot; 409 ``CONFLICT`` when the request was declined or cancelled,
    or its slot has already started.
    The seat and table constraints stay the last word should anything
    bypass the lock.
    """
    meeting = _answerable(user, meeting_id)
    with transaction.atomic():
        slot = MeetingSlot.objects.select_for_update().get(pk=meeting.slot_id)
        meeting = (
            Meeting.objects.select_for_update(of=("self",))
            .select_related("conference", "requester", "recipient", "table")
            .get(pk=meeting.pk)
        )
        if meeting.status == MeetingStatus.ACCEPTED:
            return meeting
        if meeting.status != MeetingStatus.PENDING:
            raise MeetingClosed()
        if meeting.starts_at <= timezone.now():
            raise MeetingClosed("This meeting's slot has already started.")
        people = [meeting.requester_id, meeting.recipient_id]
        if (
            Meeting.objects.filter(
                Q(requester_id__in=people) | Q(recipient_id__in=people),
                status=MeetingStatus.ACCEPTED,
                starts_at__lt=meeting.ends_at,
                ends_at__gt=meeting.starts_at,
            )
            .exclude(pk=meeting.pk)
            .exists()
        ):
            raise SlotTaken()
        taken = Meeting.objects.filter(slot=slot, status=MeetingStatus.ACCEPTED).values("table_id")
        table = (
            MeetingTable.objects.filter(window_id=slot.window_id)
            .exclude(pk__in=taken)
            .order_by("position", "id")
            .first()
        )
        if table is None:
            raise NoTableFree()
        meeting.status = MeetingStatus.ACCEPTED
        meeting.table = table
        meeting.responded_at = timezone.now()
        try:
            with transaction.atomic():
                meeting.save(update_fields=["status", "table", "responded_at"])
                MeetingSeat.objects.bulk_create([MeetingSeat(meeting=meeting, user_id=p, slot=slot) for p in people])
        except IntegrityError as exc:
            logger.warning("meeting_accept_constraint", meeting=meeting.pk, error=str(exc))
            raise SlotTaken() from exc
        _notify(
            meeting,
            to=meeting.requester,
            about=user,
            kind=NotificationKind.MEETING_ACCEPTED,
            title=f"{user.get_display_name()} accepted: {_local_time(meeting)} at table {table.name}",
        )
    return meeting


def decline_meeting(user: User, *, meeting_id: int) -> Meeting:
    """
    Decline a meeting request ``user`` received; the requester is notified
    (``meeting_declined``). Declining again returns it unchanged; an
    accepted or cancelled meeting → 409 ``CONFLICT`` (cancel it instead).
    Locks the meeting row.
    """
    meeting = _answerable(user, meeting_id)
    with transaction.atomic():
        meeting = (
            Meeting.objects.select_for_update(of=("self",))
            .select_related("conference", "requester", "recipient", "table")
            .get(pk=meeting.pk)
        )
        if meeting.status == MeetingStatus.DECLINED:
            return meeting
        if meeting.status != MeetingStatus.PENDING:
            raise MeetingClosed()
        meeting.status = MeetingStatus.DECLINED
        meeting.responded_at = timezone.now()
        meeting.save(update_fields=["status", "responded_at"])
        _notify(
            meeting,
            to=meeting.requester,
            about=user,
            kind=NotificationKind.MEETING_DECLINED,
            title=f"{user.get_display_name()} declined meeting at {_local_time(meeting)}",
        )
    return meeting


def cancel_meeting(user: User, *, meeting_id: int) -> Meeting:
    """
    Cancel a pending or accepted meeting ``user`` is part of (either side):
    its table and both seats are free again, and the other person is
    notified (``meeting_cancelled``). Cancelling again returns it unchanged;
    a declined meeting → 409 ``CONFLICT``. Locks the meeting row.
    """
    meeting = access_meeting(user, meeting_id)
    with transaction.atomic():
        meeting = (
            Meeting.objects.select_for_update(of=("self",))
            .select_related("conference", "requester", "recipient", "table")
            .get(pk=meeting.pk)
        )
        if meeting.status == MeetingStatus.CANCELLED:
            return meeting
        if meeting.status not in OPEN_STATUSES:
            raise MeetingClosed()
        _cancel(meeting, by=user)
    return meeting


def _cancel(meeting: Meeting, *, by: User | None) -> None:
    """Cancel a locked open meeting and tell the people in it (both when ``by`` is ``None``: staff cancelled)."""
    MeetingSeat.objects.filter(meeting=meeting).delete()
    meeting.status = MeetingStatus.CANCELLED
    meeting.table = None
    meeting.cancelled_by = by
    meeting.save(update_fields=["status", "table", "cancelled_by"])
    for person in (meeting.requester, meeting.recipient):
        if by is not None and person.pk == by.pk:
            continue
        other = meeting.recipient if person.pk == meeting.requester_id else meeting.requester
        who = by.get_display_name() if by is not None else "The organizers"
        _notify(
            meeting,
            to=person,
            about=other,
            kind=NotificationKind.MEETING_CANCELLED,
            title=f"{who} cancelled your meeting at {_local_time(meeting)}",
        )


# --- reminders -------------------------------------------------------------------


def send_meeting_reminders(*, now: datetime | None = None) -> int:
    """
    Remind both people of each accepted meeting starting within the next
    ``MEETING_REMINDER_MINUTES``, with its table (``meeting_reminder``);
    return how many meetings were reminded of.

    Exactly once per person: each meeting is claimed by a conditional UPDATE
    (``reminded_at IS NULL AND status = 'accepted'``) in the same
    transaction as both notifications, so concurrent beats or a retried task
    never remind twice, and a failed notify leaves the meeting for the next
    run. A meeting that has already started is not reminded of.
    """
    now = now or timezone.now()
    window_end = now + timedelta(minutes=settings.MEETING_REMINDER_MINUTES)
    due = list(
        Meeting.objects.filter(
            status=MeetingStatus.ACCEPTED, reminded_at__isnull=True, starts_at__gt=now, starts_at__lte=window_end
        )
        .select_related("conference", "requester", "recipient", "table")
        .order_by("starts_at", "id")
    )
    sent = 0
    for meeting in due:
        with transaction.atomic():
            claimed = Meeting.objects.filter(
                pk=meeting.pk, status=MeetingStatus.ACCEPTED, reminded_at__isnull=True
            ).update(reminded_at=now)
            if not claimed:
                continue
            minutes = max(1, round((meeting.starts_at - now).total_seconds() / 60))
            table = meeting.table.name if meeting.table else ""
            for person, other in ((meeting.requester, meeting.recipient), (meeting.recipient, meeting.requester)):
                notify(
                    person,
                    kind=NotificationKind.MEETING_REMINDER,
                    title=f"In {minutes} min: meeting {other.get_display_name()} at table {table}"[:200],
                    body=f"{_local_time(meeting)}, table {table}.",
                    data={
                        "conference": meeting.conference.slug,
                        "meeting": meeting.pk,
                        "user": other.pk,
                        "table": table,
                        "starts_at": meeting.starts_at.isoformat(),
                    },
                )
        sent += 1
    return sent


def staff_cancel_meeting(meeting: Meeting) -> bool:
    """Cancel ``meeting`` for the venue staff (Django admin); both people are told. Return whether it changed."""
    with transaction.atomic():
        locked = (
            Meeting.objects.select_for_update(of=("self",))
            .select_related("conference", "requester", "recipient", "table")
            .filter(pk=meeting.pk)
            .first()
        )
        if locked is None or locked.status not in OPEN_STATUSES:
            return False
        _cancel(locked, by=None)
    return True
