"""
Schedule changes reach the people who planned around them.

Every write path of sessions (``services.import_schedule`` for uploads and
syncs, ``update_session`` and ``delete_session`` for admin and API edits)
calls ``record_move`` / ``record_removal`` inside its transaction. Each
records a ``PendingSessionChange`` (one row per session) and, when it is the
first change in the window, enqueues ``conferences.flush_session_change``
with a countdown of ``SCHEDULE_CHANGE_DEBOUNCE_SECONDS`` after commit. The
task claims the row (locks and deletes it) once it is due and tells each
bookmarker once about the net change: ``session_changed`` with
``data.changes`` and the change in words, or ``session_cancelled``. A change
undone within the window sends nothing. The beat sweep
``conferences.flush_due_session_changes`` flushes rows whose task was lost.

``agenda_changed`` is pushed at once (after commit) to the sockets of the
conference's people: it only tells clients to re-read.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conferences.models import Attendance, Bookmark, Conference, PendingSessionChange, Session
from ibw.tasks import enqueue_named_on_commit, enqueue_on_commit
from notifications.models import NotificationKind
from notifications.realtime import publish_to_users
from notifications.services import notify
from users.models import User

logger = structlog.get_logger(__name__)

# The session fields whose change people are told about.
WATCHED = ("starts_at", "ends_at", "room")


def snapshot(session: Session, *, room_name: str | None = None) -> dict[str, Any]:
    """What people know of ``session``'s time and place, JSON-ready."""
    if room_name is None and session.room is not None:
        room_name = session.room.name
    return {
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.ends_at.isoformat(),
        "room": session.room_id,
        "room_name": room_name if session.room_id is not None else None,
    }


def _same(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return (
        datetime.fromisoformat(before["starts_at"]) == datetime.fromisoformat(after["starts_at"])
        and datetime.fromisoformat(before["ends_at"]) == datetime.fromisoformat(after["ends_at"])
        and before["room"] == after["room"]
    )


def _task():
    # conferences.tasks imports this module (it runs flush_session_change).
    from conferences import tasks

    return tasks.flush_session_change_task


def _pending_row(conference: Conference, session_key: int, *, title: str, baseline: dict) -> PendingSessionChange:
    """
    The locked pending row of ``session_key``, created with ``baseline`` when
    there is none (INSERT … ON CONFLICT DO NOTHING, then SELECT … FOR
    UPDATE, so concurrent writers share one row). The transaction that
    created it enqueues the delayed task after commit.
    """
    token = secrets.token_hex(16)
    due_at = timezone.now() + timedelta(seconds=settings.SCHEDULE_CHANGE_DEBOUNCE_SECONDS)
    PendingSessionChange.objects.bulk_create(
        [
            PendingSessionChange(
                conference=conference,
                session_key=session_key,
                title=title,
                baseline=baseline,
                token=token,
                due_at=due_at,
            )
        ],
        ignore_conflicts=True,
    )
    row = PendingSessionChange.objects.select_for_update().get(session_key=session_key)
    if row.token == token:
        enqueue_on_commit(_task(), countdown=settings.SCHEDULE_CHANGE_DEBOUNCE_SECONDS, pending_id=row.pk)
    return row


def record_move(session: Session, *, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """
    Note that ``session`` went from ``before`` to ``after`` (``snapshot``s).
    Returns whether its time or place differs. Call inside the write's
    transaction; the pending row is created or kept (its baseline stays the
    first ``before``), so a burst of edits becomes one message.
    """
    if _same(before, after):
        return False
    _pending_row(session.conference, session.pk, title=session.title, baseline=before)
    return True


def record_removal(session: Session, *, before: dict[str, Any]) -> None:
    """
    Note that ``session`` is being removed; call inside the write's
    transaction before the delete (its bookmarks go with it, so the people
    are kept on the pending row).
    """
    row = _pending_row(session.conference, session.pk, title=session.title, baseline=before)
    row.cancelled = True
    row.title = session.title
    row.bookmarkers = sorted(set(row.bookmarkers) | set(bookmarker_ids([session.pk])))
    row.save(update_fields=["cancelled", "title", "bookmarkers"])


def bookmarker_ids(session_ids: Iterable[int]) -> list[int]:
    return list(Bookmark.objects.filter(session_id__in=list(session_ids)).values_list("user_id", flat=True))


def push_agenda_changed(conference: Conference, *, also: Iterable[int] = ()) -> None:
    """
    After commit, push ``{"type": "agenda_changed", "conference": slug}`` to
    every socket of people registered for ``conference`` or who bookmarked
    one of its sessions (plus ``also``: bookmarkers of removed sessions).
    """
    people = set(also)
    people.update(Attendance.objects.filter(conference=conference).values_list("user_id", flat=True))
    people.update(Bookmark.objects.filter(session__conference=conference).values_list("user_id", flat=True).distinct())
    payload = {"type": "agenda_changed", "conference": conference.slug}
    publish_to_users((user_id, payload) for user_id in sorted(people))


# --- telling people ------------------------------------------------------------------


def _clock(value: str, zone: ZoneInfo, *, with_day: bool) -> str:
    moment = timezone.localtime(datetime.fromisoformat(value), zone)
    return f"{moment:%a %d %b %H:%M}" if with_day else f"{moment:%H:%M}"


def describe(before: dict[str, Any], after: dict[str, Any], *, zone: ZoneInfo) -> str:
    """The net change in words, times in ``zone``: "moved from 10:00 to 11:30, now in Hall B"."""
    old_start = datetime.fromisoformat(before["starts_at"])
    new_start = datetime.fromisoformat(after["starts_at"])
    old_end = datetime.fromisoformat(before["ends_at"])
    new_end = datetime.fromisoformat(after["ends_at"])
    with_day = timezone.localtime(old_start, zone).date() != timezone.localtime(new_start, zone).date()
    parts = []
    if old_start != new_start:
        parts.append(
            f"moved from {_clock(before['starts_at'], zone, with_day=with_day)}"
            f" to {_clock(after['starts_at'], zone, with_day=with_day)}"
        )
    if new_end - new_start != old_end - old_start:  # a plain move keeps its length: no need to say
        parts.append(f"now ends at {_clock(after['ends_at'], zone, with_day=False)}")
    if before["room"] != after["room"]:
        parts.append(f"now in {after['room_name']}" if after["room_name"] else "no longer has a room")
    return ", ".join(parts)


def net_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    """``data.changes``: each changed field as ``[old, new]`` (times ISO 8601, rooms by name)."""
    changes: dict[str, list] = {}
    for name in ("starts_at", "ends_at"):
        if datetime.fromisoformat(before[name]) != datetime.fromisoformat(after[name]):
            changes[name] = [before[name], after[name]]
    if before["room"] != after["room"]:
        changes["room"] = [before["room_name"], after["room_name"]]
    return changes


def flush(pending_id: int, *, now: datetime | None = None) -> int | None:
    """
    Claim the pending change ``pending_id`` if it is due and tell its
    people; return how many were notified, or ``None`` when it is not due
    yet (or already claimed by another run). The row is locked (SKIP
    LOCKED) and deleted in the transaction that notifies, so however many
    tasks and sweeps race, each bookmarker is told once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            PendingSessionChange.objects.select_for_update(skip_locked=True)
            .select_related("conference")
            .filter(pk=pending_id, due_at__lte=now)
            .first()
        )
        if row is None:
            return None
        row.delete()
        return _tell(row, now=now)


def flush_due(*, now: datetime | None = None) -> int:
    """Flush every pending change that is due (the beat sweep); return how many were claimed."""
    now = now or timezone.now()
    claimed = 0
    for pending_id in PendingSessionChange.objects.filter(due_at__lte=now).values_list("pk", flat=True):
        if flush(pending_id, now=now) is not None:
            claimed += 1
    return claimed


def seconds_until_due(pending_id: int, *, now: datetime | None = None) -> float | None:
    due_at = PendingSessionChange.objects.filter(pk=pending_id).values_list("due_at", flat=True).first()
    if due_at is None:
        return None
    return max(0.0, (due_at - (now or timezone.now())).total_seconds())


def _post_to_chats(row: PendingSessionChange, *, title: str, body: str) -> None:
    """
    After commit, have ``chats`` post the net change into the conference's
    announcements chats: one message per window (the pending row's token is
    the post's key, so a redelivered task posts nothing twice). ``chats``
    sits above this app, so its task is sent by name.
    """
    enqueue_named_on_commit(
        "chats.post_schedule_change",
        conference_id=row.conference_id,
        source=f"schedule:{row.token}",
        title=title,
        body=body,
    )


def _tell(row: PendingSessionChange, *, now: datetime) -> int:
    conference = row.conference
    zone = ZoneInfo(conference.timezone)
    data: dict[str, Any] = {"conference": conference.slug, "session": row.session_key}
    session = (
        None
        if row.cancelled
        else Session.objects.select_related("room").filter(pk=row.session_key, conference=conference).first()
    )
    if session is None:
        people = list(User.objects.filter(pk__in=row.bookmarkers).order_by("pk"))
        title = f"Cancelled: {row.title}"
        body = f"{row.title} ({_clock(row.baseline['starts_at'], zone, with_day=True)}) has been cancelled."
        notify(people, kind=NotificationKind.SESSION_CANCELLED, title=title, body=body, data=data)
        _post_to_chats(row, title=title, body=body)
        logger.info("session_cancelled_notified", session=row.session_key, people=len(people))
        return len(people)
    after = snapshot(session)
    if _same(row.baseline, after):
        return 0  # undone within the window
    words = describe(row.baseline, after, zone=zone)
    people = list(User.objects.filter(bookmarks__session=session).order_by("pk"))
    title, body = f"Changed: {session.title}", f"{session.title} {words}."
    notify(
        people,
        kind=NotificationKind.SESSION_CHANGED,
        title=title,
        body=body,
        data={**data, "changes": net_changes(row.baseline, after)},
    )
    _post_to_chats(row, title=title, body=body)
    if datetime.fromisoformat(row.baseline["starts_at"]) != session.starts_at and session.starts_at > now:
        # Re-arm the reminder: it goes out again before the new start.
        Bookmark.objects.filter(session=session).filter(~Q(reminded_at=None)).update(reminded_at=None)
    logger.info("session_changed_notified", session=session.pk, people=len(people))
    return len(people)
