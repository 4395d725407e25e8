from __future__ import annotations

from celery import shared_task

from live import realtime


@shared_task(name="live.flush_session_updates", acks_late=True, ignore_result=True)
def flush_session_updates_task(*, session_id: int, kind: str) -> None:
    """Push the oldest coalesced change (vote counts or presence) of one session; see ``live.realtime``."""
    realtime.flush_session_updates(session_id=session_id, kind=kind)
