"""
Database connections of the ASGI process are bounded and reused: Daphne with
``DB_POOL_MAX_SIZE`` under 64 concurrent clients never holds more than the
pool's size in PostgreSQL, and every request succeeds.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import httpx
import psycopg
import pytest
from django.db import connection

from tests.faults.servers import LiveStack, database_url
from users.services import issue_tokens

POOL_MAX = 4
CLIENTS = 64
SECONDS = 10


def _pool_settings_of(env: dict[str, str]) -> dict:
    """The database settings a fresh process computes from ``env``."""
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'], default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DJANGO_SETTINGS_MODULE": "ibw.settings"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_pool_setting_configures_django_pool_and_no_persistent_connections():
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x", "DB_POOL_MAX_SIZE": "6"}
    pooled = _pool_settings_of(env)
    plain = _pool_settings_of({**env, "DB_POOL_MAX_SIZE": "0", "CONN_MAX_AGE": "60"})

    assert pooled["OPTIONS"]["pool"]["max_size"] == 6
    assert pooled["CONN_MAX_AGE"] == 0
    assert "pool" not in plain.get("OPTIONS", {})
    assert plain["CONN_MAX_AGE"] == 60
    assert plain["CONN_HEALTH_CHECKS"] is True


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_asgi_process_stays_within_its_pool_under_64_concurrent_clients(user):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    access = issue_tokens(user)["access"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]
    db_name = connection.settings_dict["NAME"]
    admin_url = database_url().rsplit("/", 1)[0] + "/postgres"

    samples: list[int] = []
    pids_seen: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        with psycopg.connect(admin_url, autocommit=True) as monitor:
            while not stop.is_set():
                rows = monitor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s", (db_name, own_pid)
                ).fetchall()
                samples.append(len(rows))
                pids_seen.update(pid for (pid,) in rows)
                time.sleep(0.05)

    stack = LiveStack(
        database_url=database_url(),
        redis_url=os.environ["REDIS_URL"],
        DB_POOL_MAX_SIZE=str(POOL_MAX),
        THROTTLE_USER="100000000/min",
    ).start()
    watcher = threading.Thread(target=watch, daemon=True)
    try:
        watcher.start()

        async def drive() -> tuple[int, list[str]]:
            done = 0
            failures: list[str] = []
            limits = httpx.Limits(max_connections=CLIENTS)
            headers = {"Authorization": f"Bearer {access}"}
            async with httpx.AsyncClient(base_url=stack.base_url, timeout=30, limits=limits, headers=headers) as http:
                deadline = time.monotonic() + SECONDS

                async def client() -> None:
                    nonlocal done
                    while time.monotonic() < deadline:
                        try:
                            response = await http.get("/api/v1/users/me/")
                        except httpx.HTTPError as exc:
                            failures.append(repr(exc))
                            continue
                        if response.status_code != 200 or response.json()["id"] != user.id:
                            failures.append(f"{response.status_code} {response.text[:200]}")
                        done += 1

                await asyncio.gather(*(client() for _ in range(CLIENTS)))
            return done, failures

        done, failures = asyncio.run(drive())
    finally:
        stop.set()
        watcher.join(timeout=5)
        stack.stop()

    assert failures == [], failures[:5]
    # The load was real: 64 requests in flight throughout, each client served
    # several times (a busy shared machine serves a few hundred in 10 s).
    assert done >= CLIENTS * 2
    assert max(samples) <= POOL_MAX, samples
    # Reused, not one connection per request: the pool's connections are all PostgreSQL ever saw.
    assert 1 <= len(pids_seen) <= POOL_MAX, len(pids_seen)
