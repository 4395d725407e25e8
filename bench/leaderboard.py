"""
Leaderboard benchmark: top-50 plus the caller's rank, from Redis and from
the SQL fallback (``RANK()`` window function), over 100,000 users: the
overall board, and next to it one conference day's sprint board (every
user earned points on each of three conference days, so the day board also
ranks 100,000 people, out of 300,000 conference ledger rows).

Needs PostgreSQL and Redis: ``DATABASE_URL=postgres://… REDIS_URL=redis://…
.venv/bin/python bench/leaderboard.py``. Creates and drops its own database
(``ibw_bench_leaderboard``) and uses its own Redis key prefix, deleted at the
end. Prints p50/p99 per source and their ratio. Runs in about three
minutes (``BENCH_USERS`` / ``BENCH_ROUNDS`` scale it).
"""

from __future__ import annotations

import os
import random
import secrets
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common import admin_sql, percentile  # noqa: E402

USERS = int(os.environ.get("BENCH_USERS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "200"))
# Stop measuring early rather than run past this (seconds since start) on a loaded machine.
DEADLINE_S = 150
LIMIT = 50
DB_NAME = os.environ.get("BENCH_DB_NAME", "ibw_bench_leaderboard")


def _database_urls() -> tuple[str, str]:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/leaderboard.py needs DATABASE_URL=postgres://… (and REDIS_URL).")
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    bench = urlunsplit(parts._replace(path=f"/{DB_NAME}"))
    return admin, bench


def _insert_users(connection, User, count: int) -> None:
    """
    Insert ``count`` users in one server-side statement (generate_series):
    Django's defaults for every column, random points from 0..20,000 (many
    ties, as at a real event).
    """
    template = User()
    overrides = {
        "telegram_id": "1000000 + g",
        "username": "'bench' || g",
        "first_name": "'Bench'",
        "last_name": "g::text",
        "points": "floor(random() * 20001)::int",
        "calendar_token": "md5(random()::text || g)",
    }
    columns, selects, params = [], [], []
    for field in User._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.column in overrides:
            selects.append(overrides[field.column])
        else:
            selects.append("%s")
            params.append(field.get_db_prep_save(getattr(template, field.attname), connection))
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            f"INSERT INTO {User._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(selects)} FROM generate_series(1, %s) AS g",
            [*params, count],
        )


def main() -> None:
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench/leaderboard.py needs REDIS_URL=redis://…")
    admin_url, bench_url = _database_urls()
    admin_sql(admin_url, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin_sql(admin_url, f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("SECRET_KEY", "bench-only-" + secrets.token_hex(16))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibw.settings")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from conferences.models import Conference
    from quests import leaderboard
    from quests.models import PointsEntry
    from users.models import User

    settings.LEADERBOARD_KEY_PREFIX = f"ibw-bench:lb:{secrets.token_hex(4)}"
    redis = leaderboard.client()
    started = time.monotonic()
    try:
        call_command("migrate", verbosity=0)
        rng = random.Random(42)
        t0 = time.monotonic()
        _insert_users(connections["default"], User, USERS)
        ids = list(User.objects.order_by("id").values_list("id", flat=True))
        with connections["default"].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {PointsEntry._meta.db_table} (user_id, points, reason, source, created_at) "
                f"SELECT id, points, 'bench', 'bench', now() FROM {User._meta.db_table} WHERE points > 0"
            )
            cursor.execute("ANALYZE")
        conference = Conference.objects.create(
            slug="bench",
            name="Bench",
            timezone="Pacific/Kiritimati",
            starts_on=date(2026, 9, 1),
            ends_on=date(2026, 9, 3),
        )
        bench_day = date(2026, 9, 2)
        with connections["default"].cursor() as cursor:
            # Three days of awards per user, each at a random local time of that day (UTC+14).
            cursor.execute(
                f"INSERT INTO {PointsEntry._meta.db_table} "
                "(user_id, points, reason, source, conference_id, created_at) "
                f"SELECT u.id, 1 + floor(random() * 500)::int, 'bench', 'bench-day-' || d, %s, "
                "(timestamptz '2026-09-01 00:00+14' + (d || ' days')::interval + random() * interval '1 day') "
                f"FROM {User._meta.db_table} u CROSS JOIN generate_series(0, 2) AS d",
                [conference.pk],
            )
            # User.points is the ledger's sum (the overall board reads it): keep it so.
            cursor.execute(
                f"UPDATE {User._meta.db_table} AS u SET points = s.total FROM "
                f"(SELECT user_id, SUM(points) AS total FROM {PointsEntry._meta.db_table} GROUP BY user_id) AS s "
                "WHERE u.id = s.user_id"
            )
            cursor.execute("ANALYZE")
        insert_s = time.monotonic() - t0

        t0 = time.monotonic()
        sizes = leaderboard.rebuild()
        rebuild_s = time.monotonic() - t0

        # Both sources must agree before their speed means anything.
        for user_id in rng.sample(ids, 20):
            a = leaderboard.from_redis(None, limit=LIMIT, user_id=user_id)
            b = leaderboard.from_sql(None, limit=LIMIT, user_id=user_id)
            assert (a.rows, a.me) == (b.rows, b.me), f"Redis and SQL disagree for user {user_id}"

        t0 = time.monotonic()
        day_size = leaderboard.build_day(conference.pk, conference.timezone, bench_day)
        build_day_s = time.monotonic() - t0
        for user_id in rng.sample(ids, 20):
            a = leaderboard.day_from_redis(conference, bench_day, limit=LIMIT, user_id=user_id)
            b = leaderboard.day_from_sql(conference, bench_day, limit=LIMIT, user_id=user_id)
            assert (a.rows, a.me) == (b.rows, b.me), f"day board: Redis and SQL disagree for user {user_id}"

        def day_redis(_, *, limit, user_id):
            return leaderboard.day_from_redis(conference, bench_day, limit=limit, user_id=user_id)

        def day_sql(_, *, limit, user_id):
            return leaderboard.day_from_sql(conference, bench_day, limit=limit, user_id=user_id)

        readers = (
            ("redis", leaderboard.from_redis),
            ("sql", leaderboard.from_sql),
            ("day redis", day_redis),
            ("day sql", day_sql),
        )
        timings: dict[str, list[float]] = {source: [] for source, _ in readers}
        for source, read in readers:
            for _ in range(10):  # warm-up: connections, plans, caches
                read(None, limit=LIMIT, user_id=rng.choice(ids))
            # Each Redis reader may use a tenth of the time left, each SQL reader (the slow ones) a share of the rest.
            left = started + DEADLINE_S - time.monotonic()
            share = {"redis": 0.1, "sql": 0.4, "day redis": 0.15, "day sql": 1.0}[source]
            budget = time.monotonic() + left * share
            for _ in range(ROUNDS):
                if time.monotonic() > budget and len(timings[source]) >= 20:
                    break
                user_id = rng.choice(ids)
                t = time.perf_counter()
                read(None, limit=LIMIT, user_id=user_id)
                timings[source].append((time.perf_counter() - t) * 1000)

        rounds = {source: len(samples) for source, samples in timings.items()}
        print(f"leaderboard benchmark: {USERS:,} users, reads of top-{LIMIT} + my rank: {rounds}")
        print(
            f"  setup: bulk insert {insert_s:.1f} s, rebuild Redis from ledger {rebuild_s:.2f} s "
            f"({sizes[leaderboard.scope_key(None)]:,} ranked users)"
        )
        print(
            f"  day board {bench_day} (Pacific/Kiritimati): build from ledger {build_day_s:.2f} s ({day_size:,} ranked)"
        )
        for source, samples in timings.items():
            print(
                f"  {source:<9}  p50 {percentile(samples, 50):7.2f} ms   p99 {percentile(samples, 99):7.2f} ms"
                f"   mean {statistics.mean(samples):7.2f} ms"
            )
        p50 = percentile(timings["sql"], 50) / percentile(timings["redis"], 50)
        p99 = percentile(timings["sql"], 99) / percentile(timings["redis"], 99)
        print(f"  ratio SQL/Redis: p50 {p50:.1f}x, p99 {p99:.1f}x")
        # One line per figure for bench/run_all.py: BENCH <figure> | <value> | <ratio>
        print(
            f"BENCH leaderboard top-{LIMIT} + my rank, {USERS:,} users, Redis p50 / p99 | "
            f"{percentile(timings['redis'], 50):.2f} / {percentile(timings['redis'], 99):.2f} ms | "
            f"SQL {p50:.1f}x / {p99:.1f}x slower"
        )
        print(
            f"BENCH leaderboard top-{LIMIT} + my rank, {USERS:,} users, SQL RANK() p50 / p99 | "
            f"{percentile(timings['sql'], 50):.2f} / {percentile(timings['sql'], 99):.2f} ms | -"
        )
        day_p50 = percentile(timings["day sql"], 50) / percentile(timings["day redis"], 50)
        day_p99 = percentile(timings["day sql"], 99) / percentile(timings["day redis"], 99)
        print(f"  day board ratio SQL/Redis: p50 {day_p50:.1f}x, p99 {day_p99:.1f}x")
        print(
            f"BENCH day sprint board top-{LIMIT} + my rank, {USERS:,} users, Redis p50 / p99 | "
            f"{percentile(timings['day redis'], 50):.2f} / {percentile(timings['day redis'], 99):.2f} ms | "
            f"SQL {day_p50:.1f}x / {day_p99:.1f}x slower"
        )
        print(
            f"BENCH day sprint board top-{LIMIT} + my rank, {USERS:,} users, SQL p50 / p99 | "
            f"{percentile(timings['day sql'], 50):.2f} / {percentile(timings['day sql'], 99):.2f} ms | -"
        )
        print(f"  total {time.monotonic() - started:.1f} s")
    finally:
        keys = list(redis.scan_iter(match=f"{settings.LEADERBOARD_KEY_PREFIX}:*"))
        if keys:
            redis.delete(*keys)
        connections.close_all()
        admin_sql(admin_url, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()
