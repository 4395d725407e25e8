"""
Celery tasks of notifications: ids in, one service call, idempotent.

All run with ``acks_late`` and ``reject_on_worker_lost``: a task whose
worker dies is handed out again, and the services' claims make a second
run do only what the first did not.
"""

from __future__ import annotations

from celery import current_app, shared_task

from notifications import services

_RELIABLE = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


def _eager() -> bool:
    # Eager mode ignores countdowns, so a self-rescheduling task would loop; tests drive retries instead.
    return bool(current_app.conf.task_always_eager)


@shared_task(name="notifications.start_broadcast", **_RELIABLE)
def start_broadcast_task(*, broadcast_id: int) -> None:
    services.start_broadcast(broadcast_id)


@shared_task(name="notifications.send_in_app_batch", **_RELIABLE)
def send_in_app_batch_task(*, broadcast_id: int) -> None:
    if not services.send_in_app_batches(broadcast_id) and not _eager():
        send_in_app_batch_task.delay(broadcast_id=broadcast_id)


def _continue_telegram(task, result: services.LaneResult, **kwargs) -> None:
    """
    Re-enqueue a Telegram batch task with the same ``kwargs`` (``broadcast_id``
    or ``delivery_ids``): after a 429's pause, at once while rows remain, or at
    the earliest due retry. Eager runs (tests) leave retries to the beat sweep.
    """
    if _eager():
        return
    if result.paused_for:
        task.apply_async(kwargs=kwargs, countdown=result.paused_for)
    elif not result.drained:
        task.apply_async(kwargs=kwargs)
    else:
        wait = services.next_retry_in(**kwargs)
        if wait is not None:
            task.apply_async(kwargs=kwargs, countdown=wait + 0.1)


@shared_task(name="notifications.send_telegram_batch", **_RELIABLE)
def send_telegram_batch_task(*, broadcast_id: int) -> None:
    result = services.send_telegram_batch(broadcast_id=broadcast_id)
    _continue_telegram(send_telegram_batch_task, result, broadcast_id=broadcast_id)


@shared_task(name="notifications.send_telegram_deliveries", **_RELIABLE)
def send_telegram_deliveries_task(*, delivery_ids: list[int]) -> None:
    result = services.send_telegram_batch(delivery_ids=delivery_ids)
    _continue_telegram(send_telegram_deliveries_task, result, delivery_ids=delivery_ids)


@shared_task(name="notifications.dispatch_due", **_RELIABLE)
def dispatch_due_task() -> dict:
    return services.dispatch_due()
