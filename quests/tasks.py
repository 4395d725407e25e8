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


@shared_task(name="quests.count_invite_checkin", acks_late=True)
def count_invite_checkin_task(*, attendance_id: int) -> None:
    """Enqueued by name by ``conferences.services.check_in_attendee`` after a first check-in commits."""
    services.count_invite_checkin(attendance_id)


@shared_task(name="quests.reconcile_invites", acks_late=True)
def reconcile_invites_task() -> None:
    services.reconcile_invites()


@shared_task(name="quests.award_sprint_winners", acks_late=True)
def award_sprint_winners_task() -> None:
    services.award_sprint_winners()


@shared_task(name="quests.resync_leaderboards", acks_late=True, ignore_result=True)
def resync_leaderboards_task() -> dict:
    """Beat: rebuild the Redis leaderboards when they no longer match the ledger (idempotent)."""
    return leaderboard.reconcile()
