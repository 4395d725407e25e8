"""
The Kubernetes topology rehearsed with real processes (tests/cluster.py):
2 gunicorn, 2 Daphne, a worker per queue group (two for ``default``), one
beat, PostgreSQL and Redis, behind Caddy routing by path, round robin with
health checks. One cluster, five things a conference week will do to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import aiohttp
import httpx
import pytest
from django.conf import settings
from django.utils import timezone

from notifications.models import Notification
from tests.cluster import Cluster
from tests.conftest import ADMIN_KEY
from tests.debian import ensure_binary
from tests.fakes.telegram import FakeTelegram
from tests.faults.servers import database_url
from tests.telegram import BOT_TOKEN
from users.models import User
from users.services import issue_tokens

SOCKET_USERS = 8
RECIPIENTS = 120
IN_FLIGHT = 4
ADMIN = {"X-Admin-Key": ADMIN_KEY}


class Sockets(threading.Thread):
    """One notification socket per token through the proxy, reconnecting whenever it is closed."""

    def __init__(self, url: str, tokens: list[str]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.tokens = tokens
        self.upstreams: list[list[str]] = [[] for _ in tokens]  # one entry per connection made
        self.closes: list[list[int | None]] = [[] for _ in tokens]
        self.messages: list[list[dict]] = [[] for _ in tokens]
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: list[asyncio.Task] = []
        self.started = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:
            self.tasks = [asyncio.create_task(self._client(session, i)) for i in range(len(self.tokens))]
            self.started.set()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _client(self, session: aiohttp.ClientSession, i: int) -> None:
        while True:
            try:
                async with session.ws_connect(f"{self.url}/ws/notifications/?token={self.tokens[i]}") as ws:
                    self.upstreams[i].append(f"connection {len(self.upstreams[i]) + 1}")
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            self.messages[i].append(json.loads(message.data))
                    self.closes[i].append(ws.close_code)
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)

    def open_count(self) -> int:
        return sum(len(u) - len(c) for u, c in zip(self.upstreams, self.closes, strict=True))

    def titles(self, i: int) -> list[str]:
        return [m["notification"]["title"] for m in self.messages[i] if m.get("type") == "notification"]

    def stop(self) -> None:
        if self.loop:
            for task in self.tasks:
                self.loop.call_soon_threadsafe(task.cancel)
        self.join(10)


def _wait(predicate, *, timeout: float, what: str, cluster: Cluster, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s\n{cluster.logs()}")
        time.sleep(interval)


def _broadcast(cluster: Cluster, title: str, *, channels: list[str], send_at: str | None = None) -> int:
    body = {"title": title, "body": "rehearsal", "audience": {"segment": "all"}, "channels": channels}
    if send_at:
        body["send_at"] = send_at
    response = httpx.post(f"{cluster.base_url}/api/v1/admin/broadcasts/", json=body, headers=ADMIN, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _broadcast_finished(cluster: Cluster, broadcast_id: int) -> dict | None:
    response = httpx.get(f"{cluster.base_url}/api/v1/admin/broadcasts/{broadcast_id}/", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    return body if body["status"] in {"completed", "failed"} else None


def _rest_titles(cluster: Cluster, token: str) -> list[str]:
    response = httpx.get(
        f"{cluster.base_url}/api/v1/notifications/?page_size=100",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [n["title"] for n in response.json()["results"]]


def _notified_once_each(title: str) -> Counter:
    return Counter(Counter(Notification.objects.filter(title=title).values_list("user_id", flat=True)).values())


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
def test_the_cluster_survives_a_conference_week():
    caddy = ensure_binary("caddy", package="caddy")
    User.objects.bulk_create(
        [User(telegram_id=800_000 + i, username=f"c{i}", telegram_chat_id=900_000 + i) for i in range(RECIPIENTS)]
    )
    users = list(User.objects.order_by("pk"))
    tokens = [issue_tokens(user)["access"] for user in users[:SOCKET_USERS]]
    fake = FakeTelegram().start()
    env = {
        **{k: v for k, v in os.environ.items() if k != "CELERY_TASK_ALWAYS_EAGER"},
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "ADMIN_API_KEY": ADMIN_KEY,
        "LOG_LEVEL": "WARNING",
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_RATE_LIMIT": "1000",
        "BROADCAST_SENDING_LEASE_SECONDS": "3",
        "BROADCAST_LANES": "2",
        # Requests a lane has in flight: after a SIGKILL at most this many per lane have an unknown outcome.
        "TELEGRAM_SEND_CONCURRENCY": str(IN_FLIGHT),
        "THROTTLE_USER": "100000/min",
        "METRICS_TOKEN": "cluster-metrics-token",
    }
    cluster = Cluster(env=env, caddy=caddy)
    sockets = Sockets(cluster.ws_url, tokens)
    try:
        cluster.start()
        sockets.start()
        _wait(lambda: sockets.open_count() == SOCKET_USERS, timeout=30, what="all sockets open", cluster=cluster)

        # 1. A broadcast reaches sockets on both Daphne processes, once each.
        _wait(
            lambda: cluster.open_sockets("ws-1") + cluster.open_sockets("ws-2") == SOCKET_USERS,
            timeout=15,
            what="each Daphne counting its sockets",
            cluster=cluster,
        )
        on_first = cluster.open_sockets("ws-1")
        assert 0 < on_first < SOCKET_USERS  # round robin: both processes hold sockets
        first = _broadcast(cluster, "Doors open", channels=["in_app"])
        _wait(lambda: _broadcast_finished(cluster, first), timeout=30, what="broadcast 1 finished", cluster=cluster)
        _wait(
            lambda: all(sockets.titles(i) for i in range(SOCKET_USERS)),
            timeout=15,
            what="every socket got broadcast 1",
            cluster=cluster,
        )
        time.sleep(1)  # a duplicate would have arrived by now
        assert [sockets.titles(i) for i in range(SOCKET_USERS)] == [["Doors open"]] * SOCKET_USERS

        # 2. SIGTERM to one Daphne: its clients get 1001, reconnect through the proxy to the
        #    other, and what was notified meanwhile is in REST.
        cluster.signal("ws-1", signal.SIGTERM)
        second = _broadcast(cluster, "Keynote moved to Hall B", channels=["in_app"])
        assert cluster.wait("ws-1", timeout=15) == 0, cluster.log("ws-1")
        _wait(lambda: _broadcast_finished(cluster, second), timeout=30, what="broadcast 2 finished", cluster=cluster)
        _wait(lambda: sockets.open_count() == SOCKET_USERS, timeout=20, what="every socket back", cluster=cluster)
        drained = [i for i in range(SOCKET_USERS) if sockets.closes[i]]
        assert len(drained) == on_first  # exactly the stopped process's clients were closed ...
        assert all(set(sockets.closes[i]) == {1001} for i in drained), sockets.closes  # ... with 1001
        _wait(lambda: cluster.open_sockets("ws-2") == SOCKET_USERS, timeout=15, what="all on ws-2", cluster=cluster)
        for i in range(SOCKET_USERS):
            assert Counter(_rest_titles(cluster, tokens[i])) == {"Doors open": 1, "Keynote moved to Hall B": 1}

        # 3. A gunicorn stopped under load: the proxy routes around it.
        results: list[tuple[float, int, str]] = []
        stopped_at: list[float] = []

        def load(token: str) -> None:
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=15) as client:
                end = time.monotonic() + 6
                while time.monotonic() < end:
                    sent = time.monotonic()
                    try:
                        response = client.get(f"{cluster.base_url}/api/v1/notifications/unread-count/")
                        results.append((sent, response.status_code, response.headers.get("X-Upstream", "")))
                    except httpx.HTTPError:
                        results.append((sent, 0, ""))

        with ThreadPoolExecutor(len(tokens)) as pool:
            futures = [pool.submit(load, token) for token in tokens]
            time.sleep(2)
            stopped_at.append(time.monotonic())
            cluster.signal("web-1", signal.SIGTERM)
            for future in futures:
                future.result()
        assert cluster.wait("web-1", timeout=25) == 0
        before = [r for r in results if r[0] < stopped_at[0]]
        after = [r for r in results if r[0] > stopped_at[0] + 1]
        assert {cluster.upstream_name(r[2]) for r in before if r[1] == 200} == {"web-1", "web-2"}
        failed = [r for r in results if r[1] != 200]
        # Only requests in flight at the stop could fail: at most one per client.
        assert len(failed) <= len(tokens), failed
        assert len(after) > 20 and {(r[1], cluster.upstream_name(r[2])) for r in after} == {(200, "web-2")}

        # 4. SIGKILL to one of two default-queue workers mid-broadcast: the other finishes it, nobody twice.
        fake.delay = 0.05
        third = _broadcast(cluster, "Afterparty at 9", channels=["in_app", "telegram"])
        _wait(lambda: len(fake.calls_of("sendMessage")) >= 20, timeout=30, what="sending started", cluster=cluster)
        assert "notifications.send_telegram_batch" in cluster.log("worker-default-a")  # it held a lane
        cluster.signal("worker-default-a", signal.SIGKILL)
        assert len(fake.calls_of("sendMessage")) < RECIPIENTS
        _wait(lambda: _broadcast_finished(cluster, third), timeout=90, what="broadcast 3 finished", cluster=cluster)
        per_chat = Counter(int(call.params["chat_id"]) for call in fake.calls_of("sendMessage"))
        # Nobody twice; a row whose request was in flight when its worker died has an
        # unknown outcome and is never resent (ADR 0009, issue #22): at most the
        # killed worker's in-flight window per lane may be missing.
        assert set(per_chat.values()) == {1}
        missing = {900_000 + i for i in range(RECIPIENTS)} - set(per_chat)
        assert len(missing) <= IN_FLIGHT * 2, missing
        assert _notified_once_each("Afterparty at 9") == {1: RECIPIENTS}
        assert _broadcast_finished(cluster, third)["status"] == "completed"

        # 5. Beat started twice by mistake: the periodic sweep runs twice as often,
        #    a scheduled broadcast still starts once and reaches everyone once.
        cluster.start_beat("beat-2")
        _wait(
            lambda: "Sending due task notifications-dispatch-due" in cluster.log("beat-2"),
            timeout=30,
            what="the second beat scheduling",
            cluster=cluster,
        )
        fake.delay = 0.0
        send_at = (timezone.now() + timedelta(seconds=6)).isoformat()
        fourth = _broadcast(cluster, "Closing keynote in 10 min", channels=["in_app"], send_at=send_at)
        _wait(lambda: _broadcast_finished(cluster, fourth), timeout=60, what="broadcast 4 finished", cluster=cluster)
        time.sleep(6)  # both beats sweep again (every 5 s) after it finished
        beat_logs = [cluster.log("beat"), cluster.log("beat-2")]
        assert all(log.count("Sending due task notifications-dispatch-due") >= 2 for log in beat_logs)
        assert _notified_once_each("Closing keynote in 10 min") == {1: RECIPIENTS}
        assert _broadcast_finished(cluster, fourth)["total"] == RECIPIENTS
    finally:
        sockets.stop()
        cluster.cleanup()
        fake.stop()
