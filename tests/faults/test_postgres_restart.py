"""PostgreSQL restarted under load: clear 503s at worst, reconnection by itself, nothing half-written."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.faults.servers import LiveStack, LocalPostgres, LocalRedis, postgres_bin_dir

pytestmark = [pytest.mark.slow, pytest.mark.skipif(postgres_bin_dir() is None, reason="needs PostgreSQL binaries")]

ADMIN_KEY = "fault-admin-key"
SCHEDULE = Path(__file__).resolve().parents[1] / "data" / "frab-camp2019.json"


@pytest.fixture(scope="module")
def stack():
    postgres = LocalPostgres().start()
    redis = LocalRedis().start()
    live = LiveStack(
        database_url=postgres.create_database("ibw_fault"),
        redis_url=redis.url,
        ADMIN_API_KEY=ADMIN_KEY,
        THROTTLE_ANON="100000/min",
        THROTTLE_USER="100000/min",
    )
    try:
        live.manage("migrate", "--noinput", "-v0")
        live.manage("seed_demo")
        live.start()
        yield postgres, live
    finally:
        live.stop()
        redis.cleanup()
        postgres.cleanup()


def _session_count(live: LiveStack, slug: str) -> int:
    response = httpx.get(f"{live.base_url}/api/v1/conferences/{slug}/sessions/?page_size=1", timeout=10)
    return response.json()["count"]


def test_postgres_restart_under_load_gives_only_503s_and_recovers(stack):
    postgres, live = stack
    slug = "camp"
    created = httpx.post(
        f"{live.base_url}/api/v1/conferences/",
        headers={"X-Admin-Key": ADMIN_KEY},
        json={
            "slug": slug,
            "name": "Camp",
            "timezone": "Europe/Berlin",
            "starts_on": "2019-08-21",
            "ends_on": "2019-08-25",
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    schedule = json.loads(SCHEDULE.read_text())
    codes: Counter[int] = Counter()
    import_codes: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                try:
                    codes[client.get(f"{live.base_url}/api/v1/conferences/").status_code] += 1
                except httpx.HTTPError:
                    codes[0] += 1

    def importer() -> None:
        while not stop.is_set() and len(import_codes) < 20:
            response = httpx.post(
                f"{live.base_url}/api/v1/conferences/{slug}/schedule-import/",
                headers={"X-Admin-Key": ADMIN_KEY},
                json=schedule,
                timeout=60,
            )
            import_codes.append(response.status_code)
            # Between imports, the sessions are all there or none: never a half-applied file.
            assert _session_count(live, slug) in (0, 79) or response.status_code == 503

    threads = [threading.Thread(target=reader) for _ in range(3)] + [threading.Thread(target=importer)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    postgres.restart()
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(60)

    assert set(codes) <= {200, 503}, codes
    assert codes[200] > 0
    assert set(import_codes) <= {200, 503}, import_codes
    # The app reconnects by itself: the next requests succeed without a restart.
    deadline = time.monotonic() + 10
    while httpx.get(f"{live.base_url}/api/v1/conferences/", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the app did not reconnect to PostgreSQL"
        time.sleep(0.2)
    assert _session_count(live, slug) == 79
