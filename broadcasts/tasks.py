"""
Celery tasks of broadcasts: ids in, one service call, idempotent. The task
names keep their ``notifications.`` prefix from before the app moved: beat
rows and queued messages store them.

All run with ``acks_late`` and ``reject_on_worker_lost``: a task whose
worker dies is handed out again, and the services' claims make a second
run do only what the first did not.
"""

from __future__ import annotations

from celery import shared_task

from broadcasts import services
from ibw.tasks import enqueue
from notifications.tasks import continue_telegram, eager


@shared_task(name="notifications.start_broadcast", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def start_broadcast_task(*, broadcast_id: int) -> None:
    services.start_broadcast(broadcast_id)


@shared_task(name="notifications.send_in_app_batch", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_in_app_batch_task(*, broadcast_id: int) -> None:
    if not services.send_in_app_batches(broadcast_id) and not eager():
        # Broker down: the sweep resumes a broadcast whose lanes stopped beating.
        enqueue(send_in_app_batch_task, broadcast_id=broadcast_id)


@shared_task(name="notifications.send_telegram_batch", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_telegram_batch_task(*, broadcast_id: int) -> None:
    result = services.send_telegram_batch(broadcast_id)
    next_retry = services.next_retry_in(broadcast_id) if result.drained else None
    continue_telegram(send_telegram_batch_task, result, next_retry, broadcast_id=broadcast_id)


@shared_task(name="broadcasts.send_chat_posts", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_chat_posts_task(*, broadcast_id: int) -> None:
    if not services.send_chat_posts(broadcast_id) and not eager():
        # A 429 pause or a retry later: the sweep resumes a broadcast whose lanes stopped beating.
        enqueue(send_chat_posts_task, countdown=2, broadcast_id=broadcast_id)


@shared_task(name="notifications.dispatch_due", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def dispatch_due_task() -> dict:
    return services.dispatch_due()


@shared_task(name="broadcasts.purge_old_deliveries", ignore_result=True)
def purge_old_deliveries_task() -> int:
    return services.purge_old_deliveries()
