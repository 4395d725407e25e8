"""
WebSocket fan-out, black box, on the production topology: N attendees log in
through the Telegram widget endpoint, register for a conference and keep
``/ws/notifications/`` open on one of two Daphne processes; an admin then
sends an in-app broadcast to the conference's attendees through the API,
three times in a row. A Celery worker (all three queues) sends it.

For each broadcast it prints how many sockets received it (what arrived at
the client, not what the server says it sent) and the latency from the
admin's POST to each receipt (p50/p99); then the time for N clients to
connect, Daphne's memory per open socket, and how many "Too many
connections" errors the servers logged. Targets (issue #22): at 5,000
sockets, 100 % delivered each time, p99 < 1 s, no "Too many connections".

HTTP is served by gunicorn (2 workers) as in production. Sizes come from
``WS_FANOUT_SIZES`` (default ``5000``; ``5000,10000`` also reports 10,000).
Uses DATABASE_URL's PostgreSQL server (creates and drops
``ibw_bench_ws_fanout``) and REDIS_URL (flushes that Redis database).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/ws_fanout.py
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import admin_sql, db_url, free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DB_NAME = "ibw_bench_ws_fanout"
SECRET_KEY = "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
BOT_TOKEN = "424242:bench-bot-token"
ADMIN_KEY = "bench-admin-key"
SLUG = "fanout"
BROADCASTS = 3
CLIENT_PROCESSES = 2


# --- the client processes ----------------------------------------------------------------


def _widget_login(telegram_id: int) -> dict:
    """A widget login payload signed as Telegram signs it (HMAC-SHA256, key = SHA256(bot token))."""
    payload = {"id": telegram_id, "first_name": "Guest", "username": f"g{telegram_id}", "auth_date": int(time.time())}
    check = "\n".join(f"{k}={payload[k]}" for k in sorted(payload))
    secret = hashlib.sha256(BOT_TOKEN.encode()).digest()
    payload["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return payload


async def _clients(http: str, ws_bases: list[str], telegram_ids: list[int]) -> None:
    import aiohttp

    receipts: list[tuple[int, float]] = []
    closed: list[int | None] = []
    errors: list[str] = []
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    timeout = aiohttp.ClientTimeout(total=120)
    # REST calls share 64 connections; every socket holds a connection of its own (no limit).
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=timeout) as session,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as ws_session,
    ):
        # Each socket is read from the moment it opens: an unread socket answers no
        # ping, and Daphne closes it after its ping timeout.
        async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    closed.append(ws.close_code)
                    break
                now = time.time()
                body = json.loads(message.data)
                if body.get("type") == "notification":
                    receipts.append((body["notification"]["data"].get("broadcast"), now))

        listeners: list[asyncio.Task] = []

        async def join(index: int, telegram_id: int) -> None:
            try:
                async with session.post(f"{http}/api/v1/auth/telegram/", json=_widget_login(telegram_id)) as r:
                    if r.status != 200:
                        errors.append(f"login {r.status}")
                        return
                    access = (await r.json())["access"]
                headers = {"Authorization": f"Bearer {access}"}
                async with session.post(f"{http}/api/v1/conferences/{SLUG}/attendance/", headers=headers) as r:
                    if r.status not in (200, 201):
                        errors.append(f"attendance {r.status}")
                        return
                url = f"{ws_bases[index % len(ws_bases)]}/ws/notifications/?token={access}"
                ws = await ws_session.ws_connect(url, heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=5))
                sockets.append(ws)
                listeners.append(asyncio.create_task(listen(ws)))
            except Exception as exc:  # counted and reported: a benchmark sees loss
                errors.append(type(exc).__name__)

        started = time.monotonic()
        pending = [join(i, t) for i, t in enumerate(telegram_ids)]
        for start in range(0, len(pending), 200):
            await asyncio.gather(*pending[start : start + 200])
        connect_seconds = time.monotonic() - started
        print(json.dumps({"ready": len(sockets), "errors": errors, "seconds": connect_seconds}), flush=True)

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)  # the parent says when it is done
        for task in listeners:
            task.cancel()
    print(json.dumps({"receipts": receipts, "closed": closed}), flush=True)


def client_main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    job = json.loads(sys.stdin.readline())
    asyncio.run(_clients(job["http"], job["ws"], job["ids"]))


# --- the benchmark --------------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _wait_http(port: int, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answers /health on port {port}")


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def run(size: int, base: str, redis_url: str) -> tuple[list[str], bool]:
    import httpx
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    admin_sql(db_url(base, "postgres"), f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin_sql(db_url(base, "postgres"), f"CREATE DATABASE {DB_NAME}")
    logs = Path(tempfile.mkdtemp(prefix="ibw-bench-fanout-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibw.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": db_url(base, DB_NAME),
        "REDIS_URL": redis_url,
        "ADMIN_API_KEY": ADMIN_KEY,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "WARNING",
        # Everyone logs in from one loopback address here; the venue's NAT limits are not under test.
        "THROTTLE_LOGIN": "1000000/min",
        "THROTTLE_ANON": "1000000/min",
        "THROTTLE_USER": "1000000/min",
    }
    env.pop("IBW_TESTING", None)
    servers: list[tuple[str, subprocess.Popen]] = []
    clients: list[subprocess.Popen] = []

    def start(name: str, command: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=open(logs / f"{name}.log", "ab"),  # noqa: SIM115 (the child owns it)
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        servers.append((name, process))
        return process

    lines: list[str] = []
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from conferences.models import Conference;"
                f"Conference.objects.create(slug='{SLUG}', name='Fan-out', starts_on='2026-12-08', ends_on='2026-12-10')",
            ],
            cwd=ROOT,
            env=env,
            check=True,
        )
        http_port, ws_ports = free_port(), [free_port(), free_port()]
        start("gunicorn", [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{http_port}", "ibw.wsgi"])
        daphnes = [
            start(
                f"daphne-{i}",
                [sys.executable, "-m", "ibw.daphne", "-b", "127.0.0.1", "-p", str(port)]
                + ["--websocket_connect_timeout", "120", "ibw.asgi:application"],
            )
            for i, port in enumerate(ws_ports)
        ]
        start("worker", [str(BIN / "celery"), "-A", "ibw", "worker", "--concurrency", "2", "--loglevel", "WARNING"])
        for port in [http_port, *ws_ports]:
            _wait_http(port, 90)
        time.sleep(1)
        rss_before = [_rss_kib(d.pid) for d in daphnes]

        share = [list(range(70_000_000 + i, 70_000_000 + size, CLIENT_PROCESSES)) for i in range(CLIENT_PROCESSES)]
        job = {"http": f"http://127.0.0.1:{http_port}", "ws": [f"ws://127.0.0.1:{p}" for p in ws_ports]}
        for ids in share:
            client = subprocess.Popen(
                [sys.executable, __file__, "--clients"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            client.stdin.write(json.dumps({**job, "ids": ids}) + "\n")
            client.stdin.flush()
            clients.append(client)
        ready = [json.loads(c.stdout.readline()) for c in clients]
        connected = sum(r["ready"] for r in ready)
        connect_seconds = max(r["seconds"] for r in ready)
        join_errors = [e for r in ready for e in r["errors"]]
        time.sleep(2)
        rss_after = [_rss_kib(d.pid) for d in daphnes]

        sent_at: dict[int, float] = {}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{http_port}", headers={"X-Admin-Key": ADMIN_KEY}, timeout=30
        ) as api:
            for n in range(1, BROADCASTS + 1):
                body = {
                    "title": f"Keynote in 5 minutes ({n})",
                    "body": "Main hall.",
                    "audience": {"conference": SLUG, "segment": "attendees"},
                    "channels": ["in_app"],
                }
                posted = time.time()
                response = api.post("/api/v1/admin/broadcasts/", json=body)
                response.raise_for_status()
                broadcast_id = response.json()["id"]
                sent_at[broadcast_id] = posted
                deadline = time.monotonic() + 120
                while api.get(f"/api/v1/admin/broadcasts/{broadcast_id}/").json()["status"] != "completed":
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"broadcast {broadcast_id} did not complete")
                    time.sleep(0.2)
                time.sleep(5)  # stragglers still in flight are counted; none may be missing after this
        for client in clients:
            client.stdin.write("done\n")
            client.stdin.flush()
        reports = [json.loads(c.stdout.readline()) for c in clients]
        receipts = [tuple(r) for report in reports for r in report["receipts"]]
        closed = [code for report in reports for code in report["closed"]]

        too_many = sum(p.read_text(errors="replace").count("Too many connections") for p in logs.glob("*.log"))
        per_socket = (sum(rss_after) - sum(rss_before)) / max(connected, 1)
        print(
            f"{size:,} clients: {connected:,} sockets open in {connect_seconds:.1f} s; join errors: {len(join_errors)}"
        )
        if join_errors:
            print("join errors by kind:", dict(collections.Counter(join_errors)))
        if closed:
            print("sockets the server closed during the run, by code:", dict(collections.Counter(closed)))
        all_delivered = connected == size
        for number, (broadcast_id, posted) in enumerate(sent_at.items(), start=1):
            latencies = sorted((t - posted) * 1000 for b, t in receipts if b == broadcast_id)
            got = len(latencies)
            all_delivered &= got == size
            p50 = statistics.median(latencies) if latencies else float("nan")
            p99 = _percentile(latencies, 0.99) if latencies else float("nan")
            print(f"broadcast {number}: {got:,}/{size:,} received, POST -> receipt p50 {p50:.0f} ms, p99 {p99:.0f} ms")
            lines.append(
                f"BENCH WebSocket broadcast {number}/3 to {size:,} sockets on 2 Daphne: received, POST -> receipt p50 / p99 "
                f"| {100 * got / size:.1f} % · {p50:.0f} / {p99:.0f} ms | {'meets' if got == size and p99 < 1000 else 'misses'} 100 % and p99 < 1 s"
            )
        lines.append(
            f"BENCH {size:,} clients log in, register and open a socket | {connect_seconds:.1f} s | {len(join_errors)} errors"
        )
        lines.append(f"BENCH Daphne memory per open WebSocket ({size:,} sockets) | {per_socket:.1f} KiB | -")
        lines.append(f"BENCH 'Too many connections' in server logs ({size:,} sockets) | {too_many} | target 0")
        return lines, all_delivered and too_many == 0
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
        for _name, process in servers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in servers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        admin_sql(db_url(base, "postgres"), f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def main() -> int:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        print("Set DATABASE_URL to a PostgreSQL server (and REDIS_URL).", file=sys.stderr)
        return 2
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the Daphnes inherit it
    sizes = [int(s) for s in os.environ.get("WS_FANOUT_SIZES", "5000").split(",") if s.strip()]
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    ok = True
    for size in sizes:
        lines, met = run(size, base, redis_url)
        ok &= met or size != 5000  # 10,000 is reported, with no target
        for line in lines:
            print(line, flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f} (1 min)")
    return 0 if ok else 1


if __name__ == "__main__":
    if "--clients" in sys.argv:
        client_main()
    else:
        sys.exit(main())
