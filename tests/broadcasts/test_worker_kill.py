"""
A real Celery worker process, Redis, PostgreSQL and the fake Bot API: kill
the worker with SIGKILL mid-broadcast, start it again, and count.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from celery import current_app
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection

from broadcasts import services
from broadcasts.models import Broadcast, Delivery
from ibw.asgi import application
from notifications import delivery as sending
from notifications.models import Notification
from tests.fakes.telegram import FakeTelegram
from tests.telegram import BOT_TOKEN
from users.models import User
from users.services import issue_tokens

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 200
# Requests a lane has in flight at once; the worker's one process runs one lane at a time.
IN_FLIGHT = 8


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(env: dict, workdir: Path, log, *, concurrency: int) -> subprocess.Popen:
    celery = Path(sys.executable).parent / "celery"
    return subprocess.Popen(
        [
            str(celery),
            "-A",
            "ibw",
            "worker",
            "--beat",
            "--scheduler",
            "celery.beat:PersistentScheduler",
            "--schedule",
            str(workdir / "beat-schedule"),
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    process.wait(timeout=20)


def _wait_for(predicate, *, timeout: float, interval: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class _SocketListener(threading.Thread):
    """One recipient's WebSocket, collecting what the worker process publishes."""

    def __init__(self, token: str) -> None:
        super().__init__(daemon=True)
        self.token = token
        self.messages: list[dict] = []
        self.connected = threading.Event()

    def run(self) -> None:
        async def listen():
            communicator = WebsocketCommunicator(application, f"/ws/notifications/?token={self.token}")
            await communicator.connect(timeout=30)
            self.connected.set()
            # One long wait: a timed-out receive cancels the application under test.
            with contextlib.suppress(TimeoutError):
                self.messages.append(await communicator.receive_json_from(timeout=90))
                await communicator.disconnect()

        try:
            async_to_sync(listen)()
        finally:
            connection.close()


@pytest.fixture
def not_eager():
    """Enqueue to the real broker from this process (the suite runs tasks eagerly by default)."""
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    yield
    current_app.conf.task_always_eager = previous


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sigkilled_worker_restarted_sends_each_message_exactly_once(not_eager, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process must share the test database: PostgreSQL only")
    User.objects.bulk_create(
        [User(telegram_id=500_000 + i, username=f"r{i}", telegram_chat_id=700_000 + i) for i in range(RECIPIENTS)]
    )
    listener = _SocketListener(issue_tokens(User.objects.order_by("pk").first())["access"])
    listener.start()
    assert listener.connected.wait(10)
    fake = FakeTelegram().start()
    fake.delay = 0.01  # a request is in flight most of the time, as with the real API
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibw.settings",
        "IBW_TESTING": "true",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_RATE_LIMIT": "1000",
        "BROADCAST_SENDING_LEASE_SECONDS": "3",
        "BROADCAST_LANES": "2",
        "TELEGRAM_SEND_CONCURRENCY": str(IN_FLIGHT),
        "LOG_LEVEL": "WARNING",
    }
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115 (closed in finally)
    # One process, so that at the kill it is known to be mid-request (see the kill below).
    worker = _start_worker(env, tmp_path, log, concurrency=1)
    try:
        broadcast = services.create_broadcast(
            title="Keynote moved", body="Now in Hall A", audience={"segment": "all"}, channels=["in_app", "telegram"]
        )
        # Kill right after a request reaches Telegram: the worker's one process is then mid-request.
        killed_at_target = _wait_for(lambda: len(fake.calls_of("sendMessage")) >= RECIPIENTS // 4, timeout=60)
        _kill(worker)
        sent_before_restart = len(fake.calls_of("sendMessage"))
        assert killed_at_target, _log_tail(log)
        assert sent_before_restart < RECIPIENTS

        worker = _start_worker(env, tmp_path, log, concurrency=2)
        finished = _wait_for(
            lambda: Broadcast.objects.filter(pk=broadcast.pk, status__in=["completed", "failed"]).exists(),
            timeout=60,
            interval=0.2,
        )
        assert finished, _log_tail(log)
    finally:
        _kill(worker, signal.SIGTERM) if worker.poll() is None else None
        listener.join(5)
        fake.stop()

    per_chat = Counter(int(c.params["chat_id"]) for c in fake.calls_of("sendMessage"))
    assert set(per_chat) == {700_000 + i for i in range(RECIPIENTS)}
    assert set(per_chat.values()) == {1}
    assert set(Counter(Notification.objects.filter(kind="broadcast").values_list("user_id", flat=True)).values()) == {1}
    assert Notification.objects.filter(kind="broadcast").count() == RECIPIENTS
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.total, broadcast.sent + broadcast.failed) == (
        "completed",
        2 * RECIPIENTS,
        2 * RECIPIENTS,
    )
    # The requests in flight at the kill (one lane's window at most) reached Telegram but could not be
    # confirmed: each is reported by name (its row, with the reason), none resent.
    failed = list(Delivery.objects.filter(state="failed").values_list("user__telegram_chat_id", "error"))
    assert len(failed) <= IN_FLIGHT
    assert {error for _, error in failed} <= {sending.UNKNOWN_OUTCOME}
    assert all(per_chat[chat_id] == 1 for chat_id, _ in failed)
    assert [m["notification"]["title"] for m in listener.messages if m["type"] == "notification"] == ["Keynote moved"]


def _log_tail(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-3000:]
