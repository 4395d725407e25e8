"""
Broadcast throughput: 5,000 Telegram recipients through a real Celery
worker to the fake Bot API server.

(a) With the global limiter at 25 msg/s: the rate achieved over a shortened
    run, as a fraction of the limit (goal >= 0.95; above 1.0 would break it).
(b) With the limiter off: the pipeline's own ceiling in messages/s.

Uses DATABASE_URL's PostgreSQL server (creates and drops the database
``ibw_bench_broadcast``) and REDIS_URL. Bounded: each phase stops on a
clock and cancels its broadcast; about two minutes in all.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python bench/broadcast.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common import admin_sql, db_url  # noqa: E402

DB_NAME = "ibw_bench_broadcast"
RECIPIENTS = 5000
LIMIT = 25.0
RATE_WINDOW = 10.0  # seconds of phase (a) measured
CEILING_BUDGET = 15.0  # seconds phase (b) may run
BOT_TOKEN = "123456789:BENCH-bot-token"


def main() -> int:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        print("Set DATABASE_URL to a PostgreSQL server (and REDIS_URL).", file=sys.stderr)
        return 2
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    from tests.fakes.telegram import FakeTelegram

    fake = FakeTelegram().start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ibw.settings",
        "IBW_TESTING": "true",
        "DATABASE_URL": db_url(base, DB_NAME),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "LOG_LEVEL": "ERROR",
        "BROADCAST_LANES": "4",
    }
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "IBW_TESTING", "DATABASE_URL", "REDIS_URL")})
    os.environ.update(
        {k: env[k] for k in ("CELERY_TASK_ALWAYS_EAGER", "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "LOG_LEVEL")}
    )
    admin_sql(db_url(base, "postgres"), f"DROP DATABASE IF EXISTS {DB_NAME}")
    admin_sql(db_url(base, "postgres"), f"CREATE DATABASE {DB_NAME}")
    worker = None
    started = time.monotonic()
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        import ibw.celery  # noqa: F401 (the app the tasks are sent with)
        from broadcasts import services
        from broadcasts.models import Broadcast, Delivery
        from integrations import ratelimit
        from users.models import User

        User.objects.bulk_create(
            [
                User(telegram_id=10_000_000 + i, username=f"b{i}", telegram_chat_id=20_000_000 + i)
                for i in range(RECIPIENTS)
            ],
            batch_size=1000,
        )
        print(f"setup: {RECIPIENTS} recipients, database migrated in {time.monotonic() - started:.0f} s", flush=True)

        def run_phase(rate: float, budget: float, label: str) -> tuple[int, float]:
            nonlocal worker
            ratelimit.reset()
            fake.reset()
            worker = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "celery"),
                    "-A",
                    "ibw",
                    "worker",
                    "--concurrency",
                    "4",
                    "--loglevel",
                    "ERROR",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env={**env, "TELEGRAM_RATE_LIMIT": str(rate)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            broadcast = services.create_broadcast(
                title=f"Bench {label}", body="Body", audience={"segment": "all"}, channels=["telegram"]
            )
            deadline = time.monotonic() + 90
            while not fake.calls_of("sendMessage") and time.monotonic() < deadline:
                time.sleep(0.05)
            first = time.monotonic()
            while time.monotonic() - first < budget:
                if not Broadcast.objects.filter(pk=broadcast.pk, status="sending").exists():
                    break
                time.sleep(0.2)
            services.cancel_broadcast(broadcast) if Broadcast.objects.get(pk=broadcast.pk).is_active else None
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
            worker = None
            # The pipeline's own record: when each delivery was marked sent, after
            # the first second (workers warming up, lanes opening their Bot).
            stamps = sorted(
                Delivery.objects.filter(broadcast=broadcast, state="sent").values_list("sent_at", flat=True)
            )
            times = [t.timestamp() for t in stamps]
            times = [t for t in times if t >= times[0] + 1.0] if times else []
            return len(times), (times[-1] - times[0]) if len(times) > 1 else 0.0

        # (a) rate = messages after the first / time from the first to the last (steady state).
        count, span = run_phase(LIMIT, RATE_WINDOW, "limited")
        rate = (count - 1) / span if span else 0.0
        print(f"(a) limiter {LIMIT:g}/s: {count} messages in {span:.1f} s = {rate:.2f} msg/s", flush=True)
        print(f"    achieved / limit = {rate / LIMIT:.3f} (goal >= 0.95, must stay <= 1.0)", flush=True)
        # One line per figure for bench/run_all.py: BENCH <figure> | <value> | <ratio>
        print(
            f"BENCH broadcast to {RECIPIENTS:,} Telegram recipients, rate with the {LIMIT:g}/s limiter | "
            f"{rate:.2f} msg/s | {rate / LIMIT:.3f} of the limit (goal >= 0.95, <= 1.0)",
            flush=True,
        )

        count, span = run_phase(0, CEILING_BUDGET, "ceiling")
        ceiling = (count - 1) / span if span else 0.0
        print(
            f"(b) limiter off, 4 worker processes, 4 lanes: {count} messages in {span:.1f} s = {ceiling:.0f} msg/s",
            flush=True,
        )
        print(
            f"BENCH broadcast pipeline ceiling, limiter off (4 worker processes, 4 lanes) | {ceiling:.0f} msg/s | "
            f"{ceiling / LIMIT:.1f}x the {LIMIT:g}/s limit",
            flush=True,
        )
        print(f"total bench time {time.monotonic() - started:.0f} s")
        return 0
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        fake.stop()
        from django.db import connections

        connections.close_all()
        admin_sql(db_url(base, "postgres"), f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
