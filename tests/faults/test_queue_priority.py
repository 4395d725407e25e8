"""
Priority queues with real workers, as production runs them (one worker per
queue group): with hundreds of enrichment runs queued behind a slow
provider, a person pressing Start in the bot to log in is confirmed at once.
"""

from __future__ import annotations

import time

import httpx
import pytest
from django.db import connection

from ibw.celery import app
from tests.factories import UserFactory
from tests.fakes import apify, openai
from tests.fakes.apify import FakeApify
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import FakeTelegram
from tests.faults.servers import LiveStack, LocalRedis, database_url
from tests.telegram import BOT_TOKEN, WEBHOOK, WEBHOOK_SECRET, message_update
from users.models import EnrichmentRun

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    # The runs are queued on the real broker on purpose: this test process is eager.
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]

QUEUED_ENRICHMENTS = 500


def test_bot_login_is_confirmed_within_2s_while_500_enrichments_wait_on_a_slow_provider():
    if connection.vendor != "postgresql":
        pytest.skip("the live server shares the test database only on PostgreSQL")
    users = UserFactory.create_batch(QUEUED_ENRICHMENTS, twitter="slow_handle")
    runs = [EnrichmentRun.objects.create(user=user, trigger="request") for user in users]
    redis = LocalRedis().start()
    with FakeTelegram() as telegram, FakeApify() as slow, FakeOpenAI() as ai:
        slow.trouble(delay=20, times=QUEUED_ENRICHMENTS)  # every scrape hangs for 20 s
        stack = LiveStack(
            database_url=database_url(),
            redis_url=redis.url,
            TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            TELEGRAM_BOT_USERNAME="ibw_test_bot",
            TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            TELEGRAM_API_BASE_URL=telegram.base_url,
            APIFY_TOKEN=apify.TOKEN,
            APIFY_BASE_URL=slow.url,
            OPENAI_API_KEY=openai.API_KEY,
            OPENAI_BASE_URL=ai.base_url,
        )
        try:
            stack.start()
            with app.connection_for_write(redis.url) as broker:
                for run in runs:
                    app.send_task("integrations.enrich_user", kwargs={"run_id": run.pk}, connection=broker)
            stack.start_worker("bulk", queues="default,low", concurrency=2)
            stack.start_worker("critical", queues="critical", concurrency=1)
            deadline = time.monotonic() + 60
            while len(slow.requests) < 2:  # both bulk slots are stuck on the provider
                assert time.monotonic() < deadline, stack.logs()
                time.sleep(0.2)

            with httpx.Client(base_url=stack.base_url, timeout=10) as client:
                token = client.post("/api/v1/auth/telegram/bot-login/").json()["token"]
                started = time.monotonic()
                webhook = client.post(
                    WEBHOOK,
                    json=message_update(f"/start login_{token}", telegram_id=777001),
                    headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
                )
                status = "pending"
                while status == "pending" and time.monotonic() - started < 10:
                    status = client.get(f"/api/v1/auth/telegram/bot-login/{token}/").json()["status"]
                    time.sleep(0.05)
                confirmed_after = time.monotonic() - started
        finally:
            stack.kill()
            redis.cleanup()

    assert webhook.status_code == 200
    assert status == "confirmed", stack.logs()
    assert confirmed_after < 2, confirmed_after
    assert EnrichmentRun.objects.filter(status="done").count() == 0  # the bulk queue was still busy
