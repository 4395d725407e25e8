"""
Fixtures of the browser test: Debian's Chromium driven by Playwright, and
the real stack (Daphne, a Celery worker, Celery beat) as child processes on
free ports against the test database.

Playwright cannot download its own browser here, so the test always uses
``/usr/bin/chromium``, installing the ``chromium`` package with apt when it
is missing. The only reason to skip is that apt itself is unavailable (no
``apt-get``, or not root); a failed install fails the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection, connections

from ibw.embedded import free_port
from tests.debian import ensure_binary
from tests.fakes.telegram import FakeTelegram
from tests.telegram import BOT_TOKEN

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "bench" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """``/usr/bin/chromium``, installed with apt when missing."""
    return ensure_binary(str(CHROMIUM), package="chromium")


@pytest.fixture
def page(chromium_path, tmp_path, monkeypatch):
    """A headless Chromium page with a fresh profile (user data dir)."""
    from playwright.sync_api import sync_playwright

    # Sync Playwright keeps an event loop in this thread, which makes Django
    # refuse ORM calls; they are plain blocking calls here, nothing is async.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(15_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
            # ORM calls made while Playwright ran used their own connection: close it,
            # or the test database cannot be dropped at the end of the session.
            connections.close_all()


@dataclass
class Stack:
    base_url: str
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tails(self, lines: int = 40) -> str:
        """The end of every process's log, for assertion messages."""
        parts = []
        for name in self.processes:
            tail = "\n".join(self.log(name).splitlines()[-lines:])
            parts.append(f"--- {name} ({self._state(name)}) ---\n{tail}")
        return "\n".join(parts)

    def _state(self, name: str) -> str:
        code = self.processes[name].poll()
        return "running" if code is None else f"exited {code}"

    def check_alive(self) -> None:
        dead = [name for name, process in self.processes.items() if process.poll() is not None]
        assert not dead, f"{', '.join(dead)} exited early\n{self.tails()}"

    def wait_for(self, what: str, condition, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(f"{what} not within {timeout:.0f}s\n{self.tails()}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def browser_telegram():
    """The fake Bot API server; the worker subprocess reaches it over 127.0.0.1."""
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def stack(transactional_db, browser_telegram, tmp_path):
    """
    Daphne, a Celery worker and Celery beat (database scheduler) against the
    test database, with real (not eager) tasks. Stopped before the test
    database is flushed, since this fixture depends on ``transactional_db``.
    """
    if connection.vendor != "postgresql":
        pytest.skip("the browser test's server processes share the test database only on PostgreSQL")
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DEBUG": "true",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "console",
        "PYTHONUNBUFFERED": "1",
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_API_BASE_URL": browser_telegram.base_url,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    node = f"browser-{port}@%h"
    commands = {
        "web": [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "ibw.asgi:application"],
        "worker": [
            *(str(BIN / "celery"), "-A", "ibw", "worker", "-n", node, "--loglevel", "INFO"),
            *("--concurrency", "2", "--without-gossip", "--without-mingle"),
        ],
        "beat": [
            *(str(BIN / "celery"), "-A", "ibw", "beat", "--loglevel", "INFO"),
            *("-S", "django_celery_beat.schedulers:DatabaseScheduler"),
            *("--pidfile", str(tmp_path / "beat.pid")),
        ],
    }
    running = Stack(base_url=f"http://127.0.0.1:{port}", logs=logs)
    try:
        for name, command in commands.items():
            with open(logs / f"{name}.log", "wb") as out:
                running.processes[name] = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        running.wait_for("Daphne answering /health", lambda: _answers(f"{running.base_url}/health"), 60)
        running.wait_for("the Celery worker ready", lambda: " ready." in running.log("worker"), 60)
        running.wait_for("Celery beat started", lambda: "beat: Starting" in running.log("beat"), 60)
        yield running
    finally:
        for process in reversed(running.processes.values()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in running.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        _wait_for_their_connections_to_close()


def _wait_for_their_connections_to_close(timeout: float = 15) -> None:
    # A killed process's PostgreSQL backend lingers a moment; dropping the
    # test database at the end of the session fails while it does.
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.2)
