"""
A Celery worker SIGKILLed during an enrichment run: after a restart the run
finishes by itself (the beat sweep claims it once its lease has passed), the
user's summary and tags are stored once, and the run is not repeated after.
The run starts as one the broker never received, so the first worker's sweep
is also shown to pick up orphaned runs.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.factories import UserFactory
from tests.fakes import apify, openai
from tests.fakes.apify import FakeApify
from tests.fakes.openai import FakeOpenAI
from tests.faults.servers import LiveStack, LocalRedis, database_url
from users.models import EnrichmentRun

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _wait_for(condition, timeout: float, what: str, stack: LiveStack) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{stack.logs()}"
        time.sleep(0.2)


def test_sigkilled_worker_mid_enrichment_finishes_on_restart():
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database only on PostgreSQL")
    user = UserFactory(twitter="ada_l")
    run = EnrichmentRun.objects.create(user=user, trigger="request")
    # Queued while the broker was down: only the sweep knows about it.
    EnrichmentRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=2))
    redis = LocalRedis().start()
    with FakeOpenAI() as ai, FakeApify() as x:
        env = {
            "OPENAI_API_KEY": openai.API_KEY,
            "OPENAI_BASE_URL": ai.base_url,
            "OPENAI_MODEL": "gpt-test-mini",
            "APIFY_TOKEN": apify.TOKEN,
            "APIFY_BASE_URL": x.url,
            "OPENAI_TIMEOUT": "30",
            "ENRICHMENT_RUN_LEASE_SECONDS": "3",
            "ENRICHMENT_RESUME_INTERVAL": "2",
        }
        x.items["ada_l"] = [apify.tweet("ada_l", "Shipping zero-knowledge proofs to production", bio="Cryptographer")]
        ai.answer = {
            "summary": "Cryptographer shipping zero-knowledge proofs.",
            "tags": ["zero-knowledge", "cryptography"],
            "openers": ["What is hardest about proofs in production?"],
        }
        ai.trouble(delay=20, times=1)  # the first AI answer never comes in time: the worker dies waiting
        first = LiveStack(database_url=database_url(), redis_url=redis.url, **env).start_worker_with_beat()
        second = LiveStack(database_url=database_url(), redis_url=redis.url, **env)
        try:
            _wait_for(lambda: ai.completion_requests(), 60, "the AI request of the first worker", first)
            run.refresh_from_db()
            assert run.status == "running"

            first.kill()
            second.start_worker_with_beat()
            _wait_for(lambda: EnrichmentRun.objects.get(pk=run.pk).status == "done", 60, "the run to finish", second)
            # Two more sweeps after the run finished: a finished run is not started again.
            sweep = "integrations.resume_enrichments"
            second.wait_for_runs(sweep, after=second.completed_runs(sweep), count=2)
        finally:
            first.kill()
            second.stop()
            redis.cleanup()

        requests_to_ai = len(ai.completion_requests())

    user.refresh_from_db()
    assert user.enrichment_status == "done"
    assert user.enrichment_summary != ""
    assert user.enrichment_tags != []
    assert EnrichmentRun.objects.filter(user=user).count() == 1
    assert requests_to_ai == 2  # the one cut off by the kill, and the rerun
