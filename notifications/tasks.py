"""
Celery tasks of notifications: ids in, one service call, idempotent.

Run with ``acks_late`` and ``reject_on_worker_lost``: a task whose worker
dies is handed out again, and the rows' claims make a second run do only
what the first did not.
"""

from __future__ import annotations

from typing import Any

from celery import Task, current_app, shared_task

from ibw.tasks import enqueue
from notifications import delivery, services


def eager() -> bool:
    # Eager mode ignores countdowns, so a self-rescheduling task would loop; tests drive retries instead.
    return bool(current_app.conf.task_always_eager)


def continue_telegram(task: Task, result: delivery.LaneResult, next_retry: float | None, **kwargs: Any) -> None:
    """
    Re-enqueue a Telegram batch task with the same ``kwargs``: after a 429's
    pause, at once while rows remain, or at ``next_retry`` (seconds) when
    only retries wait. Eager runs (tests) leave retries to the beat sweep.
    Broker down: the beat sweep picks the rows up from the database.
    """
    if eager():
        return
    if result.paused_for:
        enqueue(task, countdown=result.paused_for, **kwargs)
    elif not result.drained:
        enqueue(task, **kwargs)
    elif next_retry is not None:
        enqueue(task, countdown=next_retry + 0.1, **kwargs)


@shared_task(
    name="notifications.send_telegram_deliveries", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def send_telegram_deliveries_task(*, delivery_ids: list[int]) -> None:
    result = services.send_telegram_deliveries(delivery_ids)
    next_retry = services.next_retry_in(delivery_ids) if result.drained else None
    continue_telegram(send_telegram_deliveries_task, result, next_retry, delivery_ids=delivery_ids)
