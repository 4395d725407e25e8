"""
Enqueueing Celery tasks from request paths.

The broker is Redis. When it is down, a request that already committed its
work must not turn into a 500: ``enqueue`` logs and returns ``False``, and the
periodic sweeps (``notifications.dispatch_due``,
``integrations.requeue_unhandled_updates``, …) pick the work up from the
database once Redis is back. Errors other than broker outages propagate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from celery import Task, current_app
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerUnavailable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = structlog.get_logger(__name__)

_BROKER_DOWN = (BrokerUnavailable, RedisConnectionError, RedisTimeoutError, ConnectionError)


def enqueue(task: Task, *, countdown: float | None = None, eta: datetime | None = None, **kwargs: Any) -> bool:
    """Send ``task`` with keyword ``kwargs``; return ``False`` (logged) when the broker is unreachable."""
    try:
        options: dict[str, Any] = {}
        if countdown is not None:
            options["countdown"] = countdown
        if eta is not None:
            options["eta"] = eta
        task.apply_async(kwargs=kwargs, **options)
    except _BROKER_DOWN as exc:
        logger.warning("broker_unavailable_task_deferred", task=task.name, error=str(exc))
        return False
    return True


def enqueue_on_commit(
    task: Task, *, countdown: float | None = None, eta: datetime | None = None, **kwargs: Any
) -> None:
    """
    ``enqueue`` once the current transaction commits; nothing is sent if it rolls back.

    The one way to queue work from a write. A broker outage at commit time
    is logged and swallowed (the committed rows stay the record of the work,
    and a sweep queues it later), so a request that committed never answers
    500 for it: that is all ``on_commit(..., robust=True)`` was used for.
    Any other error still propagates, since it is a bug to see, not an outage
    to ride out. Outside a transaction (autocommit) it enqueues at once.
    """
    transaction.on_commit(lambda: enqueue(task, countdown=countdown, eta=eta, **kwargs))


def enqueue_named(name: str, *, countdown: float | None = None, **kwargs: Any) -> bool:
    """
    ``enqueue`` the task registered as ``name``, for a lower layer that must
    not import the app owning it (conferences telling quests about a
    check-in). Routed by name like every task (``CELERY_TASK_ROUTES``); run
    in-process when this process registered the task and tasks run eagerly.
    """
    options: dict[str, Any] = {} if countdown is None else {"countdown": countdown}
    try:
        task = current_app.tasks.get(name)
        if task is not None:
            task.apply_async(kwargs=kwargs, **options)
        else:
            current_app.send_task(name, kwargs=kwargs, **options)
    except _BROKER_DOWN as exc:
        logger.warning("broker_unavailable_task_deferred", task=name, error=str(exc))
        return False
    return True


def enqueue_named_on_commit(name: str, *, countdown: float | None = None, **kwargs: Any) -> None:
    """``enqueue_named`` once the current transaction commits (at once in autocommit)."""
    transaction.on_commit(lambda: enqueue_named(name, countdown=countdown, **kwargs))
