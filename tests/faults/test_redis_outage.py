"""
Redis stopped while the API runs: endpoints that need only the database keep
answering 2xx, ``/ready`` names the failing check, notifications are still
stored, and their Telegram copies go out once Redis is back, exactly once.
"""

from __future__ import annotations

import time

import httpx
import pytest
from django.db import connection

from notifications.models import Notification
from tests.factories import ConferenceFactory, UserFactory
from tests.fakes.telegram import FakeTelegram
from tests.faults.servers import LiveStack, LocalRedis, database_url
from tests.telegram import BOT_TOKEN
from users.services import issue_tokens

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_redis_outage_keeps_the_api_up_and_notifications_catch_up():
    if connection.vendor != "postgresql":
        pytest.skip("the live server shares the test database only on PostgreSQL")
    ConferenceFactory(slug="outage")
    alice = UserFactory(telegram_chat_id=5001)
    bob = UserFactory()
    redis = LocalRedis().start()
    with FakeTelegram() as fake:
        stack = LiveStack(
            database_url=database_url(),
            redis_url=redis.url,
            worker=False,
            TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
        )
        stack.start()
        try:
            bob_headers = {"Authorization": f"Bearer {issue_tokens(bob)['access']}"}
            alice_headers = {"Authorization": f"Bearer {issue_tokens(alice)['access']}"}
            redis.stop()
            with httpx.Client(base_url=stack.base_url, timeout=20) as client:
                health = client.get("/health")
                ready = client.get("/ready")
                conferences = client.get("/api/v1/conferences/")
                me = client.get("/api/v1/users/me/", headers=bob_headers)
                request = client.post("/api/v1/connections/", json={"to_user": alice.pk}, headers=bob_headers)
                inbox = client.get("/api/v1/notifications/", headers=alice_headers)

            assert health.status_code == 200
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] == "ok"
            assert ready.json()["checks"]["redis"].startswith("error")
            assert conferences.status_code == 200
            assert me.status_code == 200
            assert request.status_code == 201, request.text
            assert inbox.status_code == 200
            assert [n["kind"] for n in inbox.json()["results"]] == ["connection_request"]
            assert fake.sent_texts(5001) == []

            # Redis is back: a worker with its beat picks the deferred Telegram copy up.
            redis.start()
            worker = LiveStack(
                database_url=database_url(),
                redis_url=redis.url,
                worker=True,
                TELEGRAM_BOT_TOKEN=BOT_TOKEN,
                TELEGRAM_API_BASE_URL=fake.base_url,
            )
            worker.start_worker_with_beat()
            try:
                deadline = time.monotonic() + 45
                while not fake.sent_texts(5001) and time.monotonic() < deadline:
                    time.sleep(0.5)
                # Two more sweeps that started after the send was seen: neither may send again.
                worker.wait_for_runs(
                    "notifications.dispatch_due", after=worker.completed_runs("notifications.dispatch_due"), count=2
                )
            finally:
                worker.stop()
        finally:
            stack.stop()
            redis.cleanup()

    assert len(fake.sent_texts(5001)) == 1
    assert Notification.objects.filter(user=alice, kind="connection_request").count() == 1
