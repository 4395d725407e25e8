"""
Benchmark: the agenda list of a 400-session, 250-speaker conference, served
by a real Daphne process, against the same server's trivial ``/health``.

Creates the PostgreSQL database ``ibw_bench_agenda`` on the server named by
``DATABASE_URL`` (default: the local server), migrates into it, generates a
frab-compatible ``schedule.json`` (4 days x 10 rooms x 10 slots = 400
sessions, 250 speakers, 1-3 per session) and loads it with
``manage.py import_schedule --create`` (timed: it is the import path
organizers use). Then it starts Daphne on a free 127.0.0.1 port with
production settings (``DEBUG`` off, persistent database connections,
throttles raised out of the way) and drives it with an async httpx client:
``BENCH_CONCURRENCY`` requests in flight (default 8), ``BENCH_REQUESTS``
per endpoint (default 400) after 20 warm-up requests, each request bounded
by a 30 s timeout.

What is measured, anonymously (no JWT):
- ``GET /health`` (a trivial JSON view: the server's floor);
- ``GET …/sessions/?page_size=100``: ONE page, the first 100 of the 400
  sessions, each with room, track and speakers (the heaviest single agenda
  request a client makes; a full pass is four such pages), served from the
  render cache after the first request, as in production;
- the same page with an extra unknown parameter, which bypasses the render
  cache: queries and serialization on every request (a quarter as many
  requests);
- the same request with ``If-None-Match`` (the 304 a polling app gets);
- ``GET …/schedule.ics`` (all 400 sessions).

Prints requests/s and p50/p99 latency for each and the ratio to ``/health``,
then stops Daphne and drops the database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/agenda.py
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
from common import (
    THROTTLES_OUT_OF_THE_WAY,
    admin_sql,
    database_urls,
    free_port,
    manage,
    production_env,
    start_redis_unless_given,
    wait_until_up,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DB_NAME = "ibw_bench_agenda"
SLUG = "bench-agenda"
SESSIONS_PER_DAY_ROOM = 10
DAYS = 4
ROOMS = 10
SPEAKERS = 250
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "400"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
WARMUP = 20
SEED = 20261122
WORDS = [
    "zero",
    "knowledge",
    "proofs",
    "rollups",
    "wallets",
    "privacy",
    "consensus",
    "security",
    "staking",
    "governance",
    "bridges",
    "oracles",
    "compilers",
    "cryptography",
    "markets",
    "design",
    "research",
    "community",
    "tooling",
    "payments",
    "identity",
    "scaling",
]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def generate_schedule(rng: random.Random) -> dict:
    """A pretalx-shaped schedule.json: DAYS x ROOMS x SESSIONS_PER_DAY_ROOM sessions, SPEAKERS speakers."""
    first_day = date(2030, 11, 12)
    people = [
        {"code": f"SPK{i:04d}", "name": f"Speaker {i}", "biography": _sentence(rng, 30), "avatar": None}
        for i in range(SPEAKERS)
    ]
    unused = list(range(SPEAKERS))
    rng.shuffle(unused)
    tracks = ["Research", "DeFi", "Security", "Privacy", "Scaling", "UX", "Governance", "Community"]
    days = []
    for day_index in range(DAYS):
        day = first_day + timedelta(days=day_index)
        rooms: dict[str, list] = {}
        for room_index in range(ROOMS):
            room = f"Room {room_index + 1}"
            rooms[room] = []
            for slot in range(SESSIONS_PER_DAY_ROOM):
                starts = datetime(day.year, day.month, day.day, 9, 0) + timedelta(minutes=50 * slot)
                count = rng.choice([1, 1, 2, 3])
                chosen = [unused.pop() if unused else rng.randrange(SPEAKERS) for _ in range(count)]
                code = secrets.token_hex(3).upper()
                rooms[room].append(
                    {
                        "guid": str(uuid.UUID(int=rng.getrandbits(128))),
                        "id": len(days) * 1000 + room_index * 100 + slot + 1,
                        "date": starts.strftime("%Y-%m-%dT%H:%M:00+03:00"),
                        "start": starts.strftime("%H:%M"),
                        "duration": "00:45",
                        "room": room,
                        "slug": f"bench-{code.lower()}",
                        "url": f"https://example.org/bench/talk/{code}/",
                        "title": _sentence(rng, 6),
                        "subtitle": "",
                        "track": rng.choice(tracks),
                        "type": "Talk",
                        "language": "en",
                        "abstract": _sentence(rng, 45),
                        "description": _sentence(rng, 80),
                        "logo": "",
                        "persons": [people[i] for i in dict.fromkeys(chosen)],
                        "links": [],
                        "attachments": [],
                    }
                )
        days.append(
            {
                "index": day_index + 1,
                "date": day.isoformat(),
                "day_start": f"{day.isoformat()}T06:00:00+03:00",
                "day_end": f"{(day + timedelta(days=1)).isoformat()}T03:59:00+03:00",
                "rooms": rooms,
            }
        )
    return {
        "schedule": {
            "version": "bench",
            "base_url": "https://example.org/bench/",
            "conference": {
                "acronym": "bench",
                "title": "Bench Conference",
                "start": first_day.isoformat(),
                "end": (first_day + timedelta(days=DAYS - 1)).isoformat(),
                "daysCount": DAYS,
                "timeslot_duration": "00:05",
                "time_zone_name": "Europe/Istanbul",
                "days": days,
            },
        }
    }


async def _measure(
    base: str, path: str, *, headers: dict[str, str] | None = None, expect: int = 200, requests: int = REQUESTS
) -> dict:
    """``requests`` GETs of ``path`` with CONCURRENCY in flight; return req/s, p50, p99 (ms) and the body size."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits, headers=headers or {}) as client:
        for _ in range(WARMUP):
            response = await client.get(path)
            if response.status_code != expect:
                raise RuntimeError(f"{path} answered {response.status_code}, expected {expect}")
        size = len(response.content)
        latencies: list[float] = []
        remaining = requests
        failures = 0

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                answer = await client.get(path)
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status_code != expect:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} of {requests} requests to {path} did not answer {expect}")
    ordered = sorted(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "bytes": size,
    }


async def _run_benchmarks(base: str) -> dict[str, dict]:
    agenda = f"/api/v1/conferences/{SLUG}/sessions/?page_size=100"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        first = await client.get(agenda)
        body = first.json()
        if first.status_code != 200 or body["count"] != DAYS * ROOMS * SESSIONS_PER_DAY_ROOM:
            raise RuntimeError(f"unexpected agenda answer {first.status_code}: count {body.get('count')}")
        etag = first.headers["ETag"]
    return {
        "health": await _measure(base, "/health"),
        "agenda": await _measure(base, agenda),
        # An unknown query parameter bypasses the render cache: every request queries and serializes.
        "agenda_uncached": await _measure(base, agenda + "&bench=uncached", requests=max(100, REQUESTS // 4)),
        "agenda_304": await _measure(base, agenda, headers={"If-None-Match": etag}, expect=304),
        "ics": await _measure(base, f"/api/v1/conferences/{SLUG}/schedule.ics"),
    }


def main() -> int:
    admin_url, bench_url = database_urls(DB_NAME, __file__)
    admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    admin_sql(admin_url, f'CREATE DATABASE "{DB_NAME}"')
    redis = None
    daphne = None
    workdir = tempfile.TemporaryDirectory(prefix="ibw-bench-agenda-")
    try:
        env = dict(os.environ)
        redis = start_redis_unless_given(env, workdir.name)
        env.update(production_env(bench_url, **THROTTLES_OUT_OF_THE_WAY))
        env.pop("IBW_TESTING", None)
        manage("migrate", "--noinput", "-v", "0", env=env)

        schedule = Path(workdir.name) / "schedule.json"
        schedule.write_text(json.dumps(generate_schedule(random.Random(SEED))))
        started = time.perf_counter()
        counts = json.loads(
            manage("import_schedule", SLUG, str(schedule), "--create", env=env).strip().splitlines()[-1]
        )
        import_seconds = time.perf_counter() - started
        print(f"Imported {counts} in {import_seconds:.1f} s (a manage.py process, Django start-up included).")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        daphne = subprocess.Popen(
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "ibw.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        asyncio.run(wait_until_up(base, daphne))
        results = asyncio.run(_run_benchmarks(base))
    finally:
        if daphne is not None and daphne.poll() is None:
            daphne.terminate()
            try:
                daphne.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daphne.kill()
                daphne.wait()
        if redis is not None:
            redis.stop()
        workdir.cleanup()
        admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')

    health = results["health"]
    labels = {
        "health": "GET /health",
        "agenda": "GET sessions/?page_size=100 (1 page: 100 of 400)",
        "agenda_uncached": "same, render cache bypassed",
        "agenda_304": "same, If-None-Match -> 304",
        "ics": "GET schedule.ics (400 VEVENTs)",
    }
    print(
        f"\nDaphne (1 process), {CONCURRENCY} in flight, {REQUESTS} requests each after {WARMUP} warm-up; "
        f"{DAYS * ROOMS * SESSIONS_PER_DAY_ROOM} sessions, {SPEAKERS} speakers\n"
    )
    print(f"{'request':<52} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'bytes':>9} {'vs /health':>11}")
    for key, label in labels.items():
        r = results[key]
        print(
            f"{label:<52} {r['rps']:>9.1f} {r['p50']:>9.2f} {r['p99']:>9.2f} {r['bytes']:>9} "
            f"{health['rps'] / r['rps']:>10.1f}x"
        )
    agenda, not_modified, ics = results["agenda"], results["agenda_304"], results["ics"]
    uncached = results["agenda_uncached"]
    print(f"\nRatio: the agenda page serves {health['rps'] / agenda['rps']:.1f}x fewer requests/s than /health.")
    size = f"{DAYS * ROOMS * SESSIONS_PER_DAY_ROOM} sessions, {SPEAKERS} speakers"
    print(
        f"BENCH agenda page (100 of {size}) via Daphne, req/s (p50 / p99) | "
        f"{agenda['rps']:.0f} req/s ({agenda['p50']:.1f} / {agenda['p99']:.1f} ms) | "
        f"/health {health['rps']:.0f} req/s: {health['rps'] / agenda['rps']:.1f}x the agenda"
    )
    print(
        f"BENCH agenda page rendered uncached (100 of {size}) via Daphne, req/s (p50 / p99) | "
        f"{uncached['rps']:.0f} req/s ({uncached['p50']:.1f} / {uncached['p99']:.1f} ms) | "
        f"/health {health['rps'] / uncached['rps']:.1f}x; cached page {agenda['rps'] / uncached['rps']:.1f}x"
    )
    print(
        f"BENCH agenda page 304 (If-None-Match) via Daphne, req/s (p50 / p99) | "
        f"{not_modified['rps']:.0f} req/s ({not_modified['p50']:.1f} / {not_modified['p99']:.1f} ms) | "
        f"{not_modified['rps'] / agenda['rps']:.1f}x the full page"
    )
    print(
        f"BENCH schedule.ics ({size}) via Daphne, req/s (p50 / p99) | "
        f"{ics['rps']:.0f} req/s ({ics['p50']:.1f} / {ics['p99']:.1f} ms) | "
        f"/health {health['rps'] / ics['rps']:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
