"""Celery tasks: ids in, one service call each."""

from __future__ import annotations

from celery import shared_task

from quests import leaderboard, services


@shared_task(name="quests.recheck_submission", bind=True, acks_late=True, max_retries=20)
def recheck_submission_task(self, *, submission_id: int) -> None:
    """
    Re-verify a pending ``telegram_join`` submission until Telegram answers.
    Run eagerly (tests, no worker) it tries once and leaves the row pending.
    """
    wait = services.recheck_submission(submission_id)
    if wait is not None and not self.request.is_eager:
        raise self.retry(countdown=wait)


@shared_task(name="quests.rebuild_leaderboard", acks_late=True)
def rebuild_leaderboard_task() -> None:
    leaderboard.rebuild()


@shared_task(name="quests.resync_leaderboards", acks_late=True, ignore_result=True)
def resync_leaderboards_task() -> dict:
    """Beat: rebuild the Redis leaderboards when they no longer match the ledger (idempotent)."""
    return leaderboard.reconcile()
