"""
Join requests at a keynote: everyone in the room is told to join the
conference's community group, and 2,000 ``chat_join_request`` updates
arrive within a minute (33 a second, more than Telegram's 25 a second).

Each update goes the production way: accepted as the webhook accepts it
(``bot.services.accept_update``: the ``update_id`` row, the handling task
queued), handled by a real Celery worker (the database decides:
``chats.services.record_join_request``), and carried out by the decision
task under the global rate limiter against the fake Bot API at
``TELEGRAM_RATE_LIMIT`` (default 25/s).

Figures: all decided; duplicate Telegram decisions (must be 0);
decisions per second from the first to the last ÷ ``TELEGRAM_RATE_LIMIT``
(goal >= 0.9); how long the last person to ask waited, and the longest wait.

Uses DATABASE_URL's PostgreSQL server (creates and drops the database
``ibw_bench_join_requests``) and REDIS_URL; about two and a half minutes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/join_requests.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "ibw_bench_join_requests"
REQUESTS = int(os.environ.get("BENCH_JOIN_REQUESTS", "2000"))
ARRIVAL_SECONDS = 60.0
CHAT_ID = -1001999000111
BOT_TOKEN = "123456789:BENCH-bot-token"


def _db_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _admin(base: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(_db_url(base, "postgres"))
    with psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql)


def main() -> int:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        print("Set DATABASE_URL to a PostgreSQL server (and REDIS_URL).", file=sys.stderr)
        return 2
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    rate_limit = float(os.environ.get("TELEGRAM_RATE_LIMIT", "25"))
    from tests.fakes.telegram import FakeTelegram

    fake = FakeTelegram().start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibw.settings",
        "IBW_TESTING": "true",
        "DATABASE_URL": _db_url(base, DB_NAME),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_RATE_LIMIT": str(rate_limit),
        "LOG_LEVEL": "ERROR",
    }
    os.environ.update(env)
    _admin(base, f"DROP DATABASE IF EXISTS {DB_NAME}")
    _admin(base, f"CREATE DATABASE {DB_NAME}")
    worker = None
    started = time.monotonic()
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        import ibw.celery  # noqa: F401 (the app the tasks are sent with)
        from bot import services as bot_services
        from chats.models import ChatLink, JoinRequest
        from conferences.models import Attendance, Conference
        from integrations import ratelimit
        from tests.telegram import chat_join_request_update
        from users.models import User

        conference = Conference.objects.create(
            slug="keynote", name="Keynote Conf", timezone="UTC", starts_on="2026-12-07", ends_on="2026-12-09"
        )
        users = User.objects.bulk_create(
            [
                User(telegram_id=30_000_000 + i, username=f"k{i}", telegram_chat_id=30_000_000 + i)
                for i in range(REQUESTS)
            ],
            batch_size=1000,
        )
        Attendance.objects.bulk_create(
            [Attendance(conference=conference, user=u, badge_code=f"K{i:07d}") for i, u in enumerate(users)],
            batch_size=1000,
        )
        fake.add_chat(CHAT_ID, title="Keynote Conf community")
        ChatLink.objects.create(
            conference=conference,
            chat_id=CHAT_ID,
            title="Keynote Conf community",
            type="supergroup",
            purpose="community",
        )
        ratelimit.reset()
        print(
            f"setup: {REQUESTS} registered people, database migrated in {time.monotonic() - started:.0f} s", flush=True
        )

        worker = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "ibw",
                "worker",
                "-Q",
                "critical,default",
                "--concurrency",
                "6",
                "--loglevel",
                "ERROR",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(3)  # the worker's processes up before the keynote ends

        arrived: dict[int, float] = {}
        t0 = time.time()
        for i, user in enumerate(users):
            due = t0 + i * ARRIVAL_SECONDS / REQUESTS
            if (pause := due - time.time()) > 0:
                time.sleep(pause)
            update = chat_join_request_update(
                CHAT_ID, telegram_id=user.telegram_id, date=int(time.time()), update_id=5_000_000 + i
            )
            fake.expect_join_request(update)
            arrived[user.telegram_id] = time.time()
            bot_services.accept_update(update)  # what the webhook does: record the update, queue its handling
        arrival_span = time.time() - t0
        print(f"{REQUESTS} join requests arrived in {arrival_span:.1f} s", flush=True)

        deadline = time.time() + REQUESTS / rate_limit * 2 + 60
        while time.time() < deadline:
            if JoinRequest.objects.filter(state="sent").count() >= REQUESTS:
                break
            time.sleep(1)

        rows = list(JoinRequest.objects.filter(state="sent").values_list("telegram_user_id", "sent_at"))
        recorded = sorted(
            created.timestamp() - arrived[tid]
            for tid, created in JoinRequest.objects.values_list("telegram_user_id", "created_at")
        )
        if recorded:
            print(
                f"update accepted -> decision recorded: p50 {recorded[len(recorded) // 2]:.1f} s, "
                f"max {recorded[-1]:.1f} s",
                flush=True,
            )
        calls = fake.decision_calls()
        per_request = Counter((int(c.params["chat_id"]), int(c.params["user_id"])) for c in calls)
        duplicates = sum(n - 1 for n in per_request.values())
        decided = len(fake.join_decisions)
        stamps = sorted(sent.timestamp() for _, sent in rows)
        span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
        rate = (len(stamps) - 1) / span if span else 0.0
        waits = sorted(sent.timestamp() - arrived[tid] for tid, sent in rows)
        last_id = users[-1].telegram_id
        last_wait = next((sent.timestamp() - arrived[tid] for tid, sent in rows if tid == last_id), float("nan"))
        print(
            f"decided {len(rows)}/{REQUESTS} (Telegram holds {decided} decisions), {len(calls)} decision calls, "
            f"{duplicates} duplicates; {rate:.2f} decisions/s over {span:.1f} s; "
            f"waits p50 {waits[len(waits) // 2]:.1f} s, max {waits[-1]:.1f} s; last person {last_wait:.1f} s",
            flush=True,
        )
        load = os.getloadavg()
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)", flush=True)
        print(f"BENCH join requests decided, {REQUESTS:,} within a minute | {len(rows)} of {REQUESTS} | -", flush=True)
        print(f"BENCH join requests, duplicate Telegram decisions | {duplicates} | -", flush=True)
        print(
            f"BENCH join requests, decisions per second at TELEGRAM_RATE_LIMIT {rate_limit:g}/s | {rate:.2f}/s | "
            f"{rate / rate_limit:.3f} of the limit (goal >= 0.9)",
            flush=True,
        )
        print(
            f"BENCH join requests, the last person's wait (arrivals in {ARRIVAL_SECONDS:g} s) | {last_wait:.1f} s | "
            f"longest {waits[-1]:.1f} s, median {waits[len(waits) // 2]:.1f} s",
            flush=True,
        )
        print(f"total bench time {time.monotonic() - started:.0f} s")
        ok = len(rows) == REQUESTS and duplicates == 0 and rate / rate_limit >= 0.9
        return 0 if ok else 1
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        fake.stop()
        from django.db import connections

        connections.close_all()
        _admin(base, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
