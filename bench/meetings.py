"""
Benchmark: 1:1 meeting requests and accepts from concurrent clients against
real server processes, then SQL checks of every meeting invariant.

Creates the PostgreSQL database ``ibw_bench_meetings`` on the server named by
``DATABASE_URL`` (default: the local server), migrates into it and seeds one
conference with ``BENCH_ATTENDEES`` attendees (default 2,000) and 3 meeting
windows of 8 slots of 15 minutes with 100 tables each (made by
``create_meeting_window``, as the API makes them). It plans
``BENCH_MEETINGS`` (default 4,000) requests between random pairs in random
slots (no pair asks twice for one slot) and starts two Daphne processes
(``python -m ibw.daphne``; gunicorn is not in requirements.txt; two
processes so requests really run at the same time against PostgreSQL). An
async httpx client runs ``BENCH_CONCURRENCY`` (default 16) workers, spread
over both servers, each doing ``POST /api/v1/meetings/`` as the requester
then ``POST /api/v1/meetings/{id}/accept/`` as the recipient. With 4,000
meetings for 2,400 table-slots, and random people, many accepts race for the
last table of a slot or for one person's slot: they must answer 409
``NO_TABLE_FREE`` / ``SLOT_TAKEN``, never a 500, and never break an invariant.

Prints throughput and p50/p99 latency per operation, the answers by status
and code, and the SQL checks (every one must find 0 violations; the script
exits 1 otherwise), then stops the servers and drops the database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/meetings.py
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
from common import (
    THROTTLES_OUT_OF_THE_WAY,
    admin_sql,
    database_urls,
    free_port,
    percentile,
    production_env,
    wait_until_up,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DB_NAME = "ibw_bench_meetings"
SLUG = "bench-meetings"
ATTENDEES = int(os.environ.get("BENCH_ATTENDEES", "2000"))
MEETINGS = int(os.environ.get("BENCH_MEETINGS", "4000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
SERVERS = 2
WINDOWS = 3
SLOTS_PER_WINDOW = 8
SLOT_MINUTES = 15
TABLES = 100
SEED = 20261207

# Each query returns the rows that break one invariant; all must return none.
INVARIANT_CHECKS = {
    "a table holds two accepted meetings in one slot": """
        SELECT table_id, slot_id FROM meetings_meeting WHERE status = 'accepted'
        GROUP BY table_id, slot_id HAVING count(*) > 1""",
    "a person holds two accepted meetings in one slot": """
        SELECT person, slot_id FROM (
            SELECT requester_id AS person, slot_id FROM meetings_meeting WHERE status = 'accepted'
            UNION ALL
            SELECT recipient_id AS person, slot_id FROM meetings_meeting WHERE status = 'accepted'
        ) held GROUP BY person, slot_id HAVING count(*) > 1""",
    "a pair has two pending-or-accepted meetings in one slot": """
        SELECT least(requester_id, recipient_id), greatest(requester_id, recipient_id), slot_id
        FROM meetings_meeting WHERE status IN ('pending', 'accepted')
        GROUP BY 1, 2, 3 HAVING count(*) > 1""",
    "an accepted meeting without a table, or a table on one not accepted": """
        SELECT id FROM meetings_meeting
        WHERE (status = 'accepted') <> (table_id IS NOT NULL)""",
    "an accepted meeting without exactly its two seats": """
        SELECT m.id FROM meetings_meeting m LEFT JOIN meetings_meetingseat s ON s.meeting_id = m.id
        WHERE m.status = 'accepted' GROUP BY m.id HAVING count(s.id) <> 2""",
    "a seat of a meeting that is not accepted, or of someone not in it": """
        SELECT s.id FROM meetings_meetingseat s JOIN meetings_meeting m ON m.id = s.meeting_id
        WHERE m.status <> 'accepted' OR s.user_id NOT IN (m.requester_id, m.recipient_id)
            OR s.slot_id <> m.slot_id""",
    "an accepted meeting's table from another window than its slot's": """
        SELECT m.id FROM meetings_meeting m
        JOIN meetings_meetingtable t ON t.id = m.table_id JOIN meetings_meetingslot s ON s.id = m.slot_id
        WHERE t.window_id <> s.window_id""",
}


def _seed(rng: random.Random) -> tuple[list[str], list[int], list[str]]:
    """Return (access tokens by attendee, user ids by attendee, slot starts as ISO strings)."""
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from conferences.models import Attendance, Conference
    from meetings.services import create_meeting_window
    from users.models import User

    today = timezone.now().date()
    conference = Conference.objects.create(
        slug=SLUG, name="Bench meetings", timezone="Europe/Berlin", starts_on=today, ends_on=today + timedelta(days=3)
    )
    users = User.objects.bulk_create(
        [
            User(telegram_id=9_000_000 + i, username=f"bench{i}", first_name=f"Bench{i}", last_name="Person")
            for i in range(ATTENDEES)
        ],
        batch_size=1000,
    )
    Attendance.objects.bulk_create([Attendance(conference=conference, user=u) for u in users], batch_size=1000)
    first = (timezone.now() + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    starts: list[str] = []
    for w in range(WINDOWS):
        window_start = first + timedelta(hours=3 * w)
        window = create_meeting_window(
            conference,
            starts_at=window_start,
            ends_at=window_start + timedelta(minutes=SLOT_MINUTES * SLOTS_PER_WINDOW),
            slot_minutes=SLOT_MINUTES,
            tables=[f"T{i + 1}" for i in range(TABLES)],
        )
        starts += [s.starts_at.isoformat() for s in window.slots.order_by("starts_at")]
    tokens = [str(AccessToken.for_user(u)) for u in users]
    return tokens, [u.pk for u in users], starts


def _plan(rng: random.Random, people: int, slots: int) -> list[tuple[int, int, int]]:
    """``MEETINGS`` distinct (requester, recipient, slot) with no pair twice in one slot."""
    seen: set[tuple[int, int, int]] = set()
    plan = []
    while len(plan) < MEETINGS:
        a, b = rng.sample(range(people), 2)
        slot = rng.randrange(slots)
        key = (min(a, b), max(a, b), slot)
        if key in seen:
            continue
        seen.add(key)
        plan.append((a, b, slot))
    return plan


async def _drive(bases: list[str], tokens: list[str], ids: list[int], starts: list[str], plan) -> dict:
    """Run the plan with CONCURRENCY workers; return latencies per operation and answers by status/code."""
    latencies: dict[str, list[float]] = {"request": [], "accept": []}
    answers: Counter[str] = Counter()
    queue: asyncio.Queue = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    clients = [httpx.AsyncClient(base_url=base, timeout=60, limits=limits) for base in bases]

    async def call(client, op: str, path: str, token: str, body: dict | None) -> httpx.Response:
        started = time.perf_counter()
        response = await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        latencies[op].append((time.perf_counter() - started) * 1000)
        code = response.json().get("code", "") if response.status_code >= 400 else ""
        answers[f"{op} {response.status_code} {code}".strip()] += 1
        return response

    async def worker(n: int) -> None:
        client = clients[n % len(clients)]
        while not queue.empty():
            a, b, slot = queue.get_nowait()
            asked = await call(
                client,
                "request",
                "/api/v1/meetings/",
                tokens[a],
                {"conference": SLUG, "with": ids[b], "starts_at": starts[slot]},
            )
            if asked.status_code == 201:
                await call(client, "accept", f"/api/v1/meetings/{asked.json()['id']}/accept/", tokens[b], None)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()
    return {"latencies": latencies, "answers": answers, "elapsed": elapsed}


def _check_invariants() -> tuple[dict[str, int], dict[str, int]]:
    from django.db import connection

    violations = {}
    with connection.cursor() as cursor:
        for name, sql in INVARIANT_CHECKS.items():
            cursor.execute(sql)
            violations[name] = len(cursor.fetchall())
        cursor.execute("SELECT status, count(*) FROM meetings_meeting GROUP BY status")
        rows = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM meetings_meetingseat")
        rows["seats"] = cursor.fetchone()[0]
    return violations, rows


def main() -> int:
    admin_url, bench_url = database_urls(DB_NAME, __file__)
    admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    admin_sql(admin_url, f'CREATE DATABASE "{DB_NAME}"')
    servers: list[subprocess.Popen] = []
    logs: list = []
    load_before = os.getloadavg()
    try:
        env = dict(os.environ)
        if not env.get("REDIS_URL"):
            sys.exit("bench/meetings.py needs REDIS_URL (the servers' cache, throttles and channel layer)")
        env.update(
            production_env(
                bench_url,
                # Django under ASGI runs each request in its own thread: persistent connections would pile up.
                CONN_MAX_AGE="0",
                **THROTTLES_OUT_OF_THE_WAY,
            )
        )
        env.pop("IBW_TESTING", None)
        env.pop("TELEGRAM_BOT_TOKEN", None)
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)

        os.environ.update({k: env[k] for k in ("DATABASE_URL", "DEBUG", "SECRET_KEY", "LOG_LEVEL")})
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibw.settings")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        rng = random.Random(SEED)
        started = time.perf_counter()
        tokens, ids, starts = _seed(rng)
        print(
            f"Seeded {ATTENDEES} attendees, {WINDOWS} windows x {SLOTS_PER_WINDOW} slots x {TABLES} tables "
            f"in {time.perf_counter() - started:.1f} s."
        )
        plan = _plan(rng, ATTENDEES, len(starts))

        bases = []
        for _ in range(SERVERS):
            logs.append(tempfile.TemporaryFile(mode="w+"))  # noqa: SIM115 (closed after the servers stop)
            port = free_port()
            servers.append(
                subprocess.Popen(
                    [PYTHON, "-m", "ibw.daphne", "-b", "127.0.0.1", "-p", str(port), "ibw.asgi:application"],
                    cwd=ROOT,
                    env=env,
                    stdout=logs[-1],
                    stderr=subprocess.STDOUT,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for base, server in zip(bases, servers, strict=True):
            asyncio.run(wait_until_up(base, server))
        result = asyncio.run(_drive(bases, tokens, ids, starts, plan))
        violations, rows = _check_invariants()
    finally:
        for server in servers:
            if server.poll() is None:
                server.terminate()
        for server in servers:
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may not have been set up when seeding failed
            pass
        admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        for n, log in enumerate(logs):
            log.seek(0)
            errors = [
                line
                for line in log.read().splitlines()
                if "dependency_unavailable" in line
                or "Traceback" in line
                or '"level": "error"' in line
                and "Service Unavailable" not in line
            ]
            if errors:
                print(f"server {n}: {len(errors)} error lines; the last ones:\n  " + "\n  ".join(errors[-5:]))
            log.close()
    load_after = os.getloadavg()

    answers, latencies, elapsed = result["answers"], result["latencies"], result["elapsed"]
    calls = sum(len(v) for v in latencies.values())
    every = latencies["request"] + latencies["accept"]
    print(f"\n{SERVERS} Daphne processes, {CONCURRENCY} concurrent clients, {calls} calls in {elapsed:.1f} s")
    for answer, count in sorted(answers.items()):
        print(f"  {answer:<40} {count:>6}")
    for op, values in (("request", latencies["request"]), ("accept", latencies["accept"]), ("all", every)):
        print(
            f"  {op:<8} n={len(values):>5}  p50 {statistics.median(values):7.1f} ms  p99 {percentile(values, 99):7.1f} ms"
        )
    print("\nSQL checks (rows breaking each invariant):")
    for name, count in violations.items():
        print(f"  {count:>4}  {name}")
    print(f"Rows: {rows}")
    print(f"Load average (1/5/15 min): before {load_before}, after {load_after}")

    errors_5xx = sum(count for answer, count in answers.items() if answer.split()[1].startswith("5"))
    accepted_answers = answers.get("accept 200", 0)
    lost_or_doubled = (rows.get("accepted", 0) != accepted_answers) or (
        sum(v for k, v in rows.items() if k != "seats") != answers.get("request 201", 0)
    )
    broken = sum(violations.values())
    print(
        f"BENCH meetings: {len(plan)} requests + accepts, {ATTENDEES} attendees, 2 Daphne, {CONCURRENCY} clients, "
        f"calls/s (p50 / p99) | {calls / elapsed:.0f} calls/s ({statistics.median(every):.0f} / "
        f"{percentile(every, 99):.0f} ms) | load {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(
        f"BENCH meetings: accept p99, {accepted_answers} accepted of {len(latencies['accept'])} | "
        f"{percentile(latencies['accept'], 99):.0f} ms | request p99 {percentile(latencies['request'], 99):.0f} ms"
    )
    print(
        f"BENCH meetings: invariant violations by SQL ({len(INVARIANT_CHECKS)} checks), 5xx, rows lost or doubled | "
        f"{broken} / {errors_5xx} / {'yes' if lost_or_doubled else 'no'} | -"
    )
    return 1 if broken or errors_5xx or lost_or_doubled else 0


if __name__ == "__main__":
    sys.exit(main())
