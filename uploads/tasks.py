"""The purge of unfinished and unused uploads, on beat (``low`` queue)."""

from __future__ import annotations

from celery import shared_task

from uploads import services


@shared_task(name="uploads.purge_stale_uploads", ignore_result=True)
def purge_stale_uploads_task() -> int:
    return services.purge_stale_uploads()
