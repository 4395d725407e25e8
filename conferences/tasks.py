from __future__ import annotations

import structlog
from celery import shared_task
from redis.exceptions import LockError, RedisError

from conferences.documents import rebuild
from conferences.services import send_session_reminders

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
