from __future__ import annotations

from celery import shared_task

from conferences.services import send_session_reminders


@shared_task(name="conferences.send_session_reminders", ignore_result=True)
def send_session_reminders_task() -> int:
    """Beat job: remind attendees of bookmarked sessions about to start (idempotent per user and session)."""
    return send_session_reminders()
