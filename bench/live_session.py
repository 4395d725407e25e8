"""
A live session under load: 2,000 sockets on one session over two Daphne
processes (``python -m ibw.daphne``, half each) and one Celery worker, while
200 question votes a second go in for 30 s and a new question is asked
every 2 s. Prints:

- whether every socket received the final vote counts (the counts in the
  database after the run);
- the most vote updates any socket received within one second (the
  contract allows 2);
- question -> receipt latency (from the ``ask_question`` call to each
  socket's receipt of the new question), p50 / p99;
- Redis operations per vote: the ``INFO commandstats`` call delta over the
  voting window divided by the votes. It counts everything on that Redis in
  the window: the coalescer, the channel layer's fan-out, presence
  heartbeats of 2,000 sockets and the Celery broker.

The votes are cast by calling the vote service (``live.services.vote_question``)
from three voter processes, each pacing its share to the target rate: the benchmark measures
the live path (commit -> coalescer -> worker -> channel layer -> sockets), not
HTTP request handling. The clients run in a child process so their work does
not delay the voters. Uses DATABASE_URL's PostgreSQL server (creates and drops
``ibw_bench_live``) and REDIS_URL. Picked up by ``bench/run_all.py`` like every
script here.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python bench/live_session.py

``LIVE_BENCH_SOCKETS`` (default 2000), ``LIVE_BENCH_VOTES_PER_SECOND`` (200) and
``LIVE_BENCH_SECONDS`` (30) change the size, e.g. on a busy machine.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common import admin_sql, db_url, free_port  # noqa: E402

DB_NAME = "ibw_bench_live"
SOCKETS = int(os.environ.get("LIVE_BENCH_SOCKETS", "2000"))
RATE = int(os.environ.get("LIVE_BENCH_VOTES_PER_SECOND", "200"))
SECONDS = int(os.environ.get("LIVE_BENCH_SECONDS", "30"))
VOTED_QUESTIONS = 3
ASK_EVERY = 2.0
VOTER_PROCESSES = 3
SECRET_KEY = "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"


# --- the client process ----------------------------------------------------------------


async def _clients(urls: list[str], voted: list[int]) -> None:
    import aiohttp

    voted_ids = set(voted)
    # Per socket: arrival times of vote updates, the last count seen per voted question,
    # and the arrival time of every other (new) question.
    updates: list[list[float]] = [[] for _ in urls]
    last: list[dict[int, int]] = [{} for _ in urls]
    asked: list[dict[int, float]] = [{} for _ in urls]
    connected = 0
    all_connected = asyncio.Event()
    stop = asyncio.Event()
    # How late this process's event loop wakes up: receipt times are only as good as that.
    lags: list[float] = []

    async def watch_lag() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.05)
            lags.append(time.monotonic() - before - 0.05)

    async def one(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal connected
        async with session.ws_connect(urls[index], heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            connected += 1
            if connected == len(urls):
                all_connected.set()
            while not stop.is_set():
                try:
                    message = await ws.receive(timeout=1)
                except TimeoutError:
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    return
                now = time.time()
                payload = json.loads(message.data)
                if payload.get("type") != "question":
                    continue
                question = payload["question"]
                if question["id"] in voted_ids:
                    updates[index].append(now)
                    last[index][question["id"]] = question["votes"]
                else:
                    asked[index].setdefault(question["id"], now)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        for i in range(len(urls)):
            tasks.append(asyncio.create_task(one(i, session)))
            if i % 50 == 49:
                await asyncio.sleep(0.25)  # do not SYN-flood the two servers
        await asyncio.wait_for(all_connected.wait(), timeout=300)
        print("READY", flush=True)
        lag_watcher = asyncio.create_task(watch_lag())
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)  # the driver says when to stop
        stop.set()
        await asyncio.gather(*tasks, lag_watcher, return_exceptions=True)
    lags.sort()
    lag = {"p99": lags[int(len(lags) * 0.99)] if lags else 0.0, "max": lags[-1] if lags else 0.0}
    print(json.dumps({"updates": updates, "last": last, "asked": asked, "lag": lag}), flush=True)


def client_main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    urls = json.loads(sys.stdin.readline())
    voted = json.loads(sys.stdin.readline())
    asyncio.run(_clients(urls, voted))


# --- the benchmark --------------------------------------------------------------------------


def _wait_http(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"Daphne on port {port} did not start")


def _redis_calls(client) -> int:
    return sum(
        int(stats["calls"]) for name, stats in client.info("commandstats").items() if name.startswith("cmdstat_")
    )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * fraction) - 1)]


def voter_main() -> None:
    """Cast this process's share of the votes at the target rate; print how many were new."""
    job = json.loads(sys.stdin.readline())
    import django

    django.setup()
    from live import services
    from live.models import Question
    from users.models import User

    users = User.objects.in_bulk({u for u, _, _ in job["pairs"]})
    questions = Question.objects.in_bulk({q for _, q, _ in job["pairs"]})
    cast = 0
    for user_id, question_id, i in job["pairs"]:
        delay = job["start"] + i / job["rate"] - time.time()
        if delay > 0:
            time.sleep(delay)
        cast += services.vote_question(questions[question_id], user=users[user_id])
    print(cast, flush=True)


def main() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        print("Set DATABASE_URL to a PostgreSQL server (and REDIS_URL).", file=sys.stderr)
        return 2
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibw.settings",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": db_url(base, DB_NAME),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "ERROR",
    }
    env.pop("IBW_TESTING", None)
    os.environ.update(env)
    admin_sql(db_url(base, "postgres"), f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin_sql(db_url(base, "postgres"), f"CREATE DATABASE {DB_NAME}")
    processes: list[subprocess.Popen] = []
    clients = None
    started = time.monotonic()
    load_before = os.getloadavg()
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        import redis
        from django.db import connections
        from django.utils import timezone
        from rest_framework_simplejwt.tokens import AccessToken

        from conferences.models import Conference, Room, Session
        from live import services
        from live.models import Question, QuestionVote
        from users.models import User

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        today = timezone.now().date()
        conference = Conference.objects.create(slug="bench", name="Bench", starts_on=today, ends_on=today)
        now = timezone.now()
        session = Session.objects.create(
            conference=conference,
            guid="bench-live",
            title="Keynote",
            starts_at=now,
            ends_at=now + timedelta(hours=1),
            room=Room.objects.create(conference=conference, name="Main hall"),
        )
        # Enough people that every vote is a new (person, question) pair; the first SOCKETS watch.
        people = max(SOCKETS, math.ceil(RATE * SECONDS / VOTED_QUESTIONS))
        users = User.objects.bulk_create(
            [User(telegram_id=70_000_000 + i, username=f"live{i}") for i in range(people)], batch_size=1000
        )
        author = users[0]
        voted = [
            Question.objects.create(session=session, author=author, text=f"Voted question {i}")
            for i in range(VOTED_QUESTIONS)
        ]
        ports = [free_port(), free_port()]
        for port in ports:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "ibw.daphne",
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        # Each handshake checks the JWT's user in the database; a burst on a
                        # busy machine needs more than the default 5 s to be accepted.
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
        processes.append(
            subprocess.Popen(
                [str(Path(sys.executable).parent / "celery"), "-A", "ibw", "worker", "-Q", "critical"]
                + ["--concurrency", "2", "--loglevel", "WARNING"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        for port in ports:
            _wait_http(port, 90)
        urls = [
            f"ws://127.0.0.1:{ports[i % 2]}/ws/sessions/{session.pk}/?token={AccessToken.for_user(u)}"
            for i, u in enumerate(users[:SOCKETS])
        ]
        clients = subprocess.Popen(
            [sys.executable, __file__, "--clients"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        clients.stdin.write(json.dumps(urls) + "\n" + json.dumps([q.pk for q in voted]) + "\n")
        clients.stdin.flush()
        connect_started = time.monotonic()
        if clients.stdout.readline().strip() != "READY":
            raise RuntimeError("clients did not connect")
        connect_seconds = time.monotonic() - connect_started
        time.sleep(3)  # presence settles

        r = redis.Redis.from_url(env["REDIS_URL"])
        calls_before = _redis_calls(r)
        # Every (person, voted question) pair at most once, spread over the questions.
        pairs = [(users[i // VOTED_QUESTIONS], voted[i % VOTED_QUESTIONS]) for i in range(RATE * SECONDS)]
        voters = []
        vote_start = time.time() + 2
        for k in range(VOTER_PROCESSES):
            voter = subprocess.Popen(
                [sys.executable, __file__, "--voter"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            mine = [(u.pk, q.pk, i) for i, (u, q) in enumerate(pairs) if i % VOTER_PROCESSES == k]
            voter.stdin.write(json.dumps({"start": vote_start, "rate": RATE, "pairs": mine}) + "\n")
            voter.stdin.flush()
            voters.append(voter)

        asked_at: dict[int, float] = {}

        def ask_loop() -> None:
            try:
                for i in range(int(SECONDS / ASK_EVERY)):
                    time.sleep(ASK_EVERY)
                    t0 = time.time()
                    question = services.ask_question(session, author=users[1 + i], text=f"Asked live {i}")
                    asked_at[question.pk] = t0
            finally:
                connections.close_all()

        asker = threading.Thread(target=ask_loop)
        time.sleep(max(0.0, vote_start - time.time()))
        vote_started = time.monotonic()
        asker.start()
        cast = sum(int(voter.communicate(timeout=SECONDS * 10)[0].strip() or 0) for voter in voters)
        vote_seconds = time.monotonic() - vote_started
        asker.join()
        calls_after = _redis_calls(r)
        time.sleep(8)  # the coalescer's last flushes (3 questions, 0.6 s apart) and their fan-out
        clients.stdin.write("stop\n")
        clients.stdin.flush()
        report = json.loads(clients.stdout.readline())
        clients.wait(60)

        final = {q.pk: QuestionVote.objects.filter(question=q).count() for q in voted}
        got_final = sum(
            1 for last in report["last"] if all(last.get(str(pk), last.get(pk)) == n for pk, n in final.items())
        )
        max_per_second = 0
        over_limit = 0
        for arrivals in report["updates"]:
            buckets: dict[int, int] = {}
            for t in arrivals:
                buckets[int(t)] = buckets.get(int(t), 0) + 1
            most = max(buckets.values(), default=0)
            max_per_second = max(max_per_second, most)
            over_limit += most > 2
        latencies = [
            (at - asked_at[int(pk)]) * 1000
            for asked in report["asked"]
            for pk, at in asked.items()
            if int(pk) in asked_at
        ]
        expected_receipts = len(asked_at) * SOCKETS
        load_after = os.getloadavg()
        ops_per_vote = (calls_after - calls_before) / max(cast, 1)

        print(f"sockets: {SOCKETS} on 2 Daphne processes + 1 worker, connected in {connect_seconds:.1f} s")
        print(f"votes: {cast} in {vote_seconds:.1f} s ({cast / vote_seconds:.0f}/s; target {RATE}/s for {SECONDS} s)")
        print(f"final counts {final}; sockets that saw them all: {got_final}/{SOCKETS}")
        print(
            f"max vote updates one socket received in one second: {max_per_second}"
            f" ({over_limit}/{SOCKETS} sockets ever got more than 2 in a calendar second, measured at receipt)"
        )
        if latencies:
            print(
                f"question -> receipt: {len(latencies)}/{expected_receipts} receipts,"
                f" p50 {statistics.median(latencies):.0f} ms, p99 {_percentile(latencies, 0.99):.0f} ms,"
                f" max {max(latencies):.0f} ms"
            )
        print(
            f"client event-loop lag (receipt-time error): p99 {report['lag']['p99'] * 1000:.0f} ms,"
            f" max {report['lag']['max'] * 1000:.0f} ms"
        )
        print(f"Redis commands in the voting window: {calls_after - calls_before} ({ops_per_vote:.1f} per vote)")
        print(
            f"load average (1/5/15 min) before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f},"
            f" after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} on {os.cpu_count()} CPUs"
        )
        size = f"{SOCKETS:,} sockets, {RATE} votes/s x {SECONDS} s"
        print(f"BENCH live session {size}: sockets with the final counts | {got_final}/{SOCKETS} | -")
        print(
            f"BENCH live session {size}: max vote updates per socket per second | {max_per_second} | limit 2; {over_limit}/{SOCKETS} sockets over"
        )
        if latencies:
            print(
                f"BENCH live session {size}: question -> receipt p50 / p99 | "
                f"{statistics.median(latencies):.0f} / {_percentile(latencies, 0.99):.0f} ms | "
                f"{len(latencies)}/{expected_receipts} received"
            )
        print(f"BENCH live session {size}: Redis commands per vote | {ops_per_vote:.1f} | all traffic in the window")
        print(f"total bench time {time.monotonic() - started:.0f} s")
        ok = got_final == SOCKETS and max_per_second <= 2 and latencies and _percentile(latencies, 0.99) < 1000
        return 0 if ok else 1
    finally:
        if clients is not None and clients.poll() is None:
            clients.kill()
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        from django.db import connections

        connections.close_all()
        admin_sql(db_url(base, "postgres"), f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    if "--clients" in sys.argv:
        client_main()
    elif "--voter" in sys.argv:
        voter_main()
    else:
        sys.exit(main())
