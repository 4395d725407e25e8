"""
The Celery app. Workers and beat read ``CELERY_*`` settings; the request id
of the request that enqueued a task travels in the task's headers and is
bound into every log line the task writes.
"""

import os

import structlog
from celery import Celery, signals

from ibw.metrics import clear_own_directory

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibw.settings")

app = Celery("ibw")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def _fresh_metrics_directory(**_: object) -> None:
    """The worker's main process, before forking: its metric files start from zero."""
    clear_own_directory()


@signals.before_task_publish.connect
def _attach_request_id(headers: dict | None = None, **_: object) -> None:
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id and headers is not None:
        headers["request_id"] = request_id


@signals.task_prerun.connect
def _bind_request_id(task=None, **_: object) -> None:
    structlog.contextvars.clear_contextvars()
    request_id = getattr(task.request, "request_id", None) if task else None
    if request_id is None and task is not None:
        request_id = (getattr(task.request, "headers", None) or {}).get("request_id")
    if request_id:
        structlog.contextvars.bind_contextvars(request_id=request_id, task=task.name)


@signals.task_postrun.connect
def _unbind_request_id(**_: object) -> None:
    structlog.contextvars.clear_contextvars()
