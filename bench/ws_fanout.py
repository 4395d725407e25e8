"""
WebSocket fan-out: 1,000 clients on two Daphne processes (half each), one
in-app broadcast to all of them. Prints the delivery latency from the
commit of the notifications to each client's receipt (p50/p99/max), how
many arrived, and Daphne's memory per open connection (RSS growth / clients).

The broadcast's in-app batch is the worker's own code
(``services._send_in_app_batch``) run in this process, so the commit time
is known exactly; the clients run in a child process so their work does
not delay the publisher. Uses DATABASE_URL's PostgreSQL server (creates and
drops ``ibw_bench_ws_fanout``) and REDIS_URL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python bench/ws_fanout.py
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "ibw_bench_ws_fanout"
CLIENTS = 1000
SECRET_KEY = "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"


# --- the client process ----------------------------------------------------------------


async def _clients(urls: list[str]) -> None:
    import aiohttp

    received: list[float | None] = [None] * len(urls)
    connected = 0
    all_connected = asyncio.Event()

    async def one(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal connected
        async with session.ws_connect(urls[index], heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            connected += 1
            if connected == len(urls):
                all_connected.set()
            message = await ws.receive(timeout=60)
            if message.type == aiohttp.WSMsgType.TEXT:
                received[index] = time.time()

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        for i in range(len(urls)):
            tasks.append(asyncio.create_task(one(i, session)))
            if i % 50 == 49:
                await asyncio.sleep(0.2)  # do not SYN-flood the two servers
        await asyncio.wait_for(all_connected.wait(), timeout=150)
        print("READY", flush=True)
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(received), flush=True)


def client_main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    urls = json.loads(sys.stdin.readline())
    asyncio.run(_clients(urls))


# --- the benchmark --------------------------------------------------------------------------


def _db_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _admin(base: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(base)
    with psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _wait_http(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"Daphne on port {port} did not start")


def main() -> int:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        print("Set DATABASE_URL to a PostgreSQL server (and REDIS_URL).", file=sys.stderr)
        return 2
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibw.settings",
        "IBW_TESTING": "true",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": _db_url(base, DB_NAME),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "ERROR",
    }
    os.environ.update(env)
    _admin(base, f"DROP DATABASE IF EXISTS {DB_NAME}")
    _admin(base, f"CREATE DATABASE {DB_NAME}")
    servers: list[subprocess.Popen] = []
    clients = None
    started = time.monotonic()
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        from django.db import transaction
        from rest_framework_simplejwt.tokens import AccessToken

        from broadcasts import services
        from broadcasts.models import Broadcast
        from users.models import User

        users = User.objects.bulk_create(
            [User(telegram_id=60_000_000 + i, username=f"w{i}") for i in range(CLIENTS)], batch_size=1000
        )
        ports = [_free_port(), _free_port()]
        daphne = str(Path(sys.executable).parent / "daphne")
        for port in ports:
            servers.append(
                subprocess.Popen(
                    [
                        daphne,
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        # Each handshake checks the JWT's user in the database; a burst of
                        # 500 on a busy machine needs more than the default 5 s to be accepted.
                        "--websocket_connect_timeout",
                        "120",
                        "ibw.asgi:application",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        for port in ports:
            _wait_http(port, 90)
        time.sleep(1)
        rss_before = [_rss_kib(s.pid) for s in servers]
        urls = [
            f"ws://127.0.0.1:{ports[i % 2]}/ws/notifications/?token={AccessToken.for_user(u)}"
            for i, u in enumerate(users)
        ]
        clients = subprocess.Popen(
            [sys.executable, __file__, "--clients"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        clients.stdin.write(json.dumps(urls) + "\n")
        clients.stdin.flush()
        connect_started = time.monotonic()
        if clients.stdout.readline().strip() != "READY":
            raise RuntimeError("clients did not connect")
        connect_seconds = time.monotonic() - connect_started
        time.sleep(1)
        rss_after = [_rss_kib(s.pid) for s in servers]

        broadcast = Broadcast.objects.create(title="Fan-out", audience={"segment": "all"}, channels=["in_app"])
        services.enqueue_lanes = lambda *args, **kwargs: None  # this process runs the batch itself, below
        services.IN_APP_BATCH_SIZE = CLIENTS
        services.start_broadcast(broadcast.pk)
        committed: list[float] = []
        with transaction.atomic():
            # Registered first, so it runs first after the commit, before the pushes.
            transaction.on_commit(lambda: committed.append(time.time()))
            sent = services._send_in_app_batch(broadcast.pk)
        publish_done = time.time()
        received = json.loads(clients.stdout.readline())
        clients.wait(30)

        latencies = sorted((t - committed[0]) * 1000 for t in received if t is not None)
        got = len(latencies)
        per_conn = (sum(rss_after) - sum(rss_before)) / CLIENTS
        print(f"clients: {CLIENTS} on 2 Daphne processes, connected in {connect_seconds:.1f} s; notifications: {sent}")
        print(f"received: {got}/{CLIENTS}")
        if got:
            p99 = latencies[min(got - 1, int(got * 0.99))]
            print(
                f"commit -> receipt latency: p50 {statistics.median(latencies):.0f} ms, p99 {p99:.0f} ms,"
                f" max {latencies[-1]:.0f} ms (publishing took {(publish_done - committed[0]) * 1000:.0f} ms)"
            )
        print(
            f"Daphne RSS: {sum(rss_before) / 1024:.0f} MiB -> {sum(rss_after) / 1024:.0f} MiB,"
            f" {per_conn:.1f} KiB per connection"
        )
        # One line per figure for bench/run_all.py: BENCH <figure> | <value> | <ratio>
        if got:
            print(
                f"BENCH WebSocket fan-out to {CLIENTS:,} clients on 2 Daphne processes, commit -> receipt p50 / p99 | "
                f"{statistics.median(latencies):.0f} / {p99:.0f} ms | {got}/{CLIENTS} received"
            )
        print(f"BENCH Daphne memory per open WebSocket | {per_conn:.1f} KiB | -")
        print(f"total bench time {time.monotonic() - started:.0f} s")
        return 0 if got == CLIENTS else 1
    finally:
        if clients is not None and clients.poll() is None:
            clients.kill()
        for server in servers:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        from django.db import connections

        connections.close_all()
        _admin(base, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    if "--clients" in sys.argv:
        client_main()
    else:
        sys.exit(main())
