from __future__ import annotations

from celery import shared_task

from meetings.services import send_meeting_reminders


@shared_task(name="meetings.send_meeting_reminders", ignore_result=True)
def send_meeting_reminders_task() -> int:
    """Beat job: remind both people of accepted meetings about to start (each meeting claimed once)."""
    return send_meeting_reminders()
