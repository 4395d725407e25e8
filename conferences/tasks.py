from __future__ import annotations

from celery import shared_task

from conferences import changes
from conferences.services import send_session_reminders
from ibw.tasks import enqueue


@shared_task(name="conferences.send_session_reminders", ignore_result=True)
def send_session_reminders_task() -> int:
    """Beat job: remind attendees of bookmarked sessions about to start (idempotent per user and session)."""
    return send_session_reminders()


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
