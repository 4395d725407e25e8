"""
Benchmark: the conference-morning surge (issue #12) against the production
topology: gunicorn (HTTP) and Daphne (WebSockets) behind Caddy with
``deploy/Caddyfile``, on PostgreSQL and Redis.

``SURGE_ATTENDEES`` simulated attendees (default 2,000) arrive evenly within
``SURGE_WINDOW`` seconds (default 50, so all within 60 s) from 4 client
addresses (127.0.0.2 to 127.0.0.5: the loopback network is a /8 on Linux,
so each client socket is bound to one of them and the proxy sees 4 venue
NATs). Each attendee, one after another:

1. logs in through the Mini App endpoint (``initData`` signed with the bot
   token, as Telegram does);
2. fetches the agenda page (``sessions/?page_size=100``, with their JWT);
3. fetches their profile (``users/me/``);
4. bookmarks a session;
5. opens the notifications socket and keeps it open until everyone is done.

Real limits apply (defaults of ``THROTTLE_*``; ``NUM_PROXIES=1`` behind
Caddy). Before the surge, the load generator (aiohttp, one process) is
measured against ``/health`` through the same proxy, so its own ceiling is
known. Prints error count (goal 0), REST p50/p99 (goal p99 < 500 ms),
logins refused (429, goal 0), the peak of PostgreSQL connections to the
benchmark database (sampled every 0.25 s from ``pg_stat_activity``), and
``uptime`` before and after. Without the ``caddy`` binary (Debian:
``apt-get install caddy``) the clients talk to gunicorn and Daphne directly
and the output says so.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/surge.py
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from agenda import SEED, generate_schedule  # noqa: E402
from common import (  # noqa: E402
    admin_sql,
    database_urls,
    manage,
    production_env,
    start_redis_unless_given,
    uptime,
)

PYTHON = sys.executable
DB_NAME = "ibw_bench_surge"
SLUG = "bench-surge"
ATTENDEES = int(os.environ.get("SURGE_ATTENDEES", "2000"))
WINDOW = float(os.environ.get("SURGE_WINDOW", "50"))
WEB_WORKERS = int(os.environ.get("SURGE_WEB_WORKERS", "4"))
WS_POOL = int(os.environ.get("SURGE_WS_DB_POOL", "4"))
ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
BOT_TOKEN = "123456789:BENCH-surge-bot-token"
P99_GOAL_MS = 500.0


def signed_init_data(telegram_id: int) -> str:
    """A Mini App ``initData`` signed the way Telegram signs it."""
    user = {"id": telegram_id, "first_name": f"Attendee{telegram_id}", "username": f"a{telegram_id}"}
    fields = {"query_id": "AAH", "user": json.dumps(user, separators=(",", ":")), "auth_date": str(int(time.time()))}
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    secret = hmac.new(b"WebAppData", BOT_TOKEN.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


class PeakConnections:
    """Samples pg_stat_activity for one database in a thread; keeps the peak."""

    def __init__(self, admin_url: str, database: str) -> None:
        self.admin_url, self.database = admin_url, database
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while not self._stop.is_set():
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.database,)
                ).fetchone()
                self.peak = max(self.peak, count)
                time.sleep(0.25)

    def __enter__(self) -> PeakConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _sessions(address: str) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=0, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def measure_client(base: str, seconds: float = 5.0, concurrency: int = 32) -> dict:
    """The load generator's own ceiling: /health through the same path, for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    async with _sessions(ADDRESSES[0]) as http:

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    async with http.get(f"{base}/health") as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    return {"rps": len(latencies) / elapsed, "p99": ordered[int(0.99 * (len(ordered) - 1))], "errors": errors}


async def surge(base: str, ws_base: str, session_ids: list[int]) -> dict:
    rest: list[float] = []
    errors: list[str] = []
    refused = 0
    opened = 0
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    all_done = asyncio.Event()
    clients = [_sessions(address) for address in ADDRESSES]
    rng = random.Random(SEED)

    async def call(http: aiohttp.ClientSession, method: str, url: str, expect: set[int], **kwargs) -> dict | None:
        nonlocal refused
        started = time.perf_counter()
        try:
            async with http.request(method, url, **kwargs) as response:
                body = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            errors.append(f"{method} {url.split('?')[0]}: {type(exc).__name__}")
            return None
        finally:
            rest.append((time.perf_counter() - started) * 1000)
        if status not in expect:
            if status == 429 and "auth/telegram" in url:
                refused += 1
            errors.append(f"{method} {urlsplit(url).path}: {status} {body[:120]!r}")
            return None
        return json.loads(body) if body else {}

    async def attendee(index: int) -> None:
        nonlocal opened
        await asyncio.sleep(index * WINDOW / ATTENDEES)
        http = clients[index % len(clients)]
        login = await call(
            http, "POST", f"{base}/api/v1/auth/telegram/webapp/", {200},
            json={"init_data": signed_init_data(9_000_000 + index)},
        )  # fmt: skip
        if login is None:
            return
        auth = {"Authorization": f"Bearer {login['access']}"}
        agenda = await call(
            http, "GET", f"{base}/api/v1/conferences/{SLUG}/sessions/?page_size=100", {200}, headers=auth
        )
        if agenda is not None and agenda.get("count") != len(session_ids):
            errors.append(f"agenda count {agenda.get('count')}")
        me = await call(http, "GET", f"{base}/api/v1/users/me/", {200}, headers=auth)
        if me is not None and me.get("telegram_id") != 9_000_000 + index:
            errors.append("profile of someone else")
        session_id = rng.choice(session_ids)
        await call(
            http, "POST", f"{base}/api/v1/conferences/{SLUG}/sessions/{session_id}/bookmark/", {200, 201}, headers=auth
        )
        try:
            ws = await http.ws_connect(f"{ws_base}/ws/notifications/?token={login['access']}", heartbeat=None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            errors.append(f"socket: {type(exc).__name__} {exc}")
            return
        sockets.append(ws)
        opened += 1
        await all_done.wait()

    started = time.monotonic()
    tasks = [asyncio.create_task(attendee(i)) for i in range(ATTENDEES)]
    # Everyone has had their turn once every task is parked on all_done (or finished).
    while True:
        await asyncio.sleep(0.5)
        pending = sum(1 for t in tasks if not t.done())
        if pending == opened or time.monotonic() - started > WINDOW + 240:
            break
    elapsed = time.monotonic() - started
    dropped = sum(1 for ws in sockets if ws.closed)
    all_done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ws in sockets:
        await ws.close()
    for http in clients:
        await http.close()
    if dropped:
        errors.append(f"{dropped} sockets closed by the server before the end")
    ordered = sorted(rest)
    return {
        "elapsed": elapsed,
        "requests": len(rest),
        "p50": statistics.median(ordered),
        "p99": ordered[int(0.99 * (len(ordered) - 1))],
        "errors": errors,
        "refused": refused,
        "sockets": opened,
    }


def main() -> int:
    from tests.topology import Topology

    admin_url, bench_url = database_urls(DB_NAME, __file__)
    admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    admin_sql(admin_url, f'CREATE DATABASE "{DB_NAME}"')
    redis = None
    workdir = tempfile.TemporaryDirectory(prefix="ibw-bench-surge-")
    before = uptime()
    try:
        env = dict(os.environ)
        redis = start_redis_unless_given(env, workdir.name)
        env.update(production_env(bench_url, TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_BOT_USERNAME="ibw_bench_bot"))
        for name in ("IBW_TESTING", "CELERY_TASK_ALWAYS_EAGER", "THROTTLE_ANON", "THROTTLE_USER", "THROTTLE_LOGIN"):
            env.pop(name, None)
        manage("migrate", "--noinput", "-v", "0", env=env)
        schedule = Path(workdir.name) / "schedule.json"
        schedule.write_text(json.dumps(generate_schedule(random.Random(SEED))))
        manage("import_schedule", SLUG, str(schedule), "--create", env=env)
        admin_sql(bench_url, "ANALYZE")  # statistics, as autovacuum gathers them within a minute of an import
        import psycopg

        with psycopg.connect(bench_url) as conn:
            session_ids = [row[0] for row in conn.execute("SELECT id FROM conferences_session ORDER BY id")]

        stack = Topology(env=env, web_workers=WEB_WORKERS, ws_env={"DB_POOL_MAX_SIZE": str(WS_POOL)})
        with stack:
            topology = (
                f"Caddy (deploy/Caddyfile) in front of gunicorn ({WEB_WORKERS} sync workers) and Daphne "
                f"(DB pool {WS_POOL})"
                if stack.proxied
                else f"NO PROXY (caddy not installed): gunicorn ({WEB_WORKERS} workers) and Daphne directly"
            )
            print(f"Topology: {topology}", flush=True)
            client = asyncio.run(measure_client(stack.base_url))
            print(
                f"Load generator alone: /health {client['rps']:.0f} req/s at 32 in flight "
                f"(p99 {client['p99']:.1f} ms, {client['errors']} errors)",
                flush=True,
            )
            with PeakConnections(admin_url, DB_NAME) as pg:
                result = asyncio.run(surge(stack.base_url, stack.ws_url, session_ids))
            logs = stack.logs()
        with psycopg.connect(bench_url) as conn:
            (bookmarks,) = conn.execute("SELECT count(*) FROM conferences_bookmark").fetchone()
            (users,) = conn.execute("SELECT count(*) FROM users_user").fetchone()
    finally:
        if redis is not None:
            redis.stop()
        workdir.cleanup()
        admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    after = uptime()

    errors = result["errors"]
    print(f"\n{ATTENDEES} attendees from {len(ADDRESSES)} addresses, arriving within {WINDOW:.0f} s")
    print(f"load before: {before}\nload after:  {after}")
    print(f"done in {result['elapsed']:.1f} s; {result['requests']} REST requests; {result['sockets']} sockets open")
    print(f"users {users}, bookmarks {bookmarks}")
    print(f"errors {len(errors)} (goal 0); logins refused {result['refused']} (goal 0)")
    print(f"REST p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms (goal p99 < {P99_GOAL_MS:.0f} ms)")
    print(f"PostgreSQL connections at peak: {pg.peak}")
    for line in sorted(set(errors))[:15]:
        print(f"  error: {line} (x{errors.count(line)})")
    if errors and "Traceback" in logs:
        print(logs[-3000:])
    where = "via Caddy" if stack.proxied else "direct, no proxy"
    tag = f"{ATTENDEES} attendees / {len(ADDRESSES)} addresses / {WINDOW:.0f} s, {where}"
    print(f"BENCH surge {tag}: errors, logins refused | {len(errors)} errors, {result['refused']} refused | goal 0")
    print(
        f"BENCH surge {tag}: REST p50 / p99 | {result['p50']:.1f} / {result['p99']:.1f} ms | goal p99 < {P99_GOAL_MS:.0f}"
    )
    print(
        f"BENCH surge {tag}: PostgreSQL connections at peak | {pg.peak} | gunicorn {WEB_WORKERS} + Daphne pool {WS_POOL}"
    )
    print(f"BENCH surge load generator /health (aiohttp, 32 in flight) | {client['rps']:.0f} req/s | -")
    print(f"BENCH surge load average after | {after.split('load average:')[-1].strip()} | -")
    return 0


if __name__ == "__main__":
    sys.exit(main())
