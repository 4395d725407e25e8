"""
The enrichment workflow's tasks. Their names keep the ``integrations.``
prefix they were registered under before the workflow moved here: queued
messages and the beat schedule refer to tasks by name. And the retention
sweeps (``users.retention``), on beat.
"""

from __future__ import annotations

from celery import shared_task

from users import enrichment, retention


@shared_task(name="integrations.enrich_user", acks_late=True)
def enrich_user_task(*, run_id: int) -> None:
    enrichment.run_enrichment(run_id)


@shared_task(name="integrations.resume_enrichments")
def resume_enrichments_task() -> int:
    """Start again the enrichment runs a killed worker left running, or the broker never received."""
    run_ids = enrichment.stalled_enrichment_run_ids()
    for run_id in run_ids:
        enrich_user_task.delay(run_id=run_id)
    return len(run_ids)


@shared_task(name="users.purge_expired_login_tokens", ignore_result=True)
def purge_expired_login_tokens_task() -> int:
    return retention.purge_expired_login_tokens()


@shared_task(name="users.purge_expired_jwt", ignore_result=True)
def purge_expired_jwt_task() -> int:
    return retention.purge_expired_jwt()
