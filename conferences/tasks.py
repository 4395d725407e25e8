from __future__ import annotations

import contextlib

import structlog
from celery import shared_task
from redis.exceptions import LockError, RedisError

from conferences import changes, sync
from conferences.documents import rebuild
from conferences.errors import ScheduleFetchFailed
from conferences.models import Conference
from conferences.services import send_session_reminders
from ibw.tasks import enqueue

logger = structlog.get_logger(__name__)


@shared_task(name="conferences.send_session_reminders", ignore_result=True)
def send_session_reminders_task() -> int:
    """Beat job: remind attendees of bookmarked sessions about to start (idempotent per user and session)."""
    return send_session_reminders()


@shared_task(name="conferences.build_schedule_documents", ignore_result=True, acks_late=True)
def build_schedule_documents_task(*, conference_id: int) -> None:
    """
    After an agenda change commits: build and store the conference's
    schedule documents unless newer ones are stored already (idempotent;
    waits for a request that is building them).
    """
    try:
        rebuild(conference_id)
    except (LockError, RedisError) as exc:
        # The next request builds them under the lock instead; nothing is lost.
        logger.warning("schedule_documents_not_built", conference=conference_id, error=str(exc))


@shared_task(name="conferences.flush_session_change", bind=True, ignore_result=True)
def flush_session_change_task(self, pending_id: int) -> int | None:
    """
    Tell the bookmarkers of one session about its net schedule change once
    the debounce window has passed (claims the pending row: idempotent).
    Arriving early (clock skew), it queues itself for the rest of the window;
    eagerly run (tests, no broker) it leaves the row to the beat sweep.
    """
    told = changes.flush(pending_id)
    if told is None and not self.request.is_eager:
        remaining = changes.seconds_until_due(pending_id)
        if remaining is not None:
            enqueue(self, countdown=remaining + 0.5, pending_id=pending_id)
    return told


@shared_task(name="conferences.flush_due_session_changes", ignore_result=True)
def flush_due_session_changes_task() -> int:
    """Beat safety net: flush pending schedule changes that are due but whose task was lost."""
    return changes.flush_due()


@shared_task(name="conferences.sync_schedules", ignore_result=True)
def sync_schedules_task() -> int:
    """Beat job (every SCHEDULE_SYNC_MINUTES): queue one sync per conference with a schedule_url."""
    ids = sync.conferences_to_sync()
    for conference_id in ids:
        enqueue(sync_schedule_task, conference_id=conference_id)
    return len(ids)


@shared_task(name="conferences.sync_schedule", ignore_result=True)
def sync_schedule_task(conference_id: int) -> None:
    """Re-import one conference's schedule_url (If-None-Match); a failure is recorded on the conference."""
    conference = Conference.objects.filter(pk=conference_id).first()
    if conference is None or not conference.schedule_url:
        return
    # A failure is recorded on the conference (the admin shows it) and logged.
    with contextlib.suppress(ScheduleFetchFailed):
        sync.sync_schedule(conference)
