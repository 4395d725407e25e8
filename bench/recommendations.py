"""
Benchmark: who-to-meet recommendations at a 5,000-attendee conference.

Creates the PostgreSQL database ``ibw_bench_recommendations`` on the server
named by ``DATABASE_URL`` (default: the local server), migrates into it,
seeds random interests, enrichment tags, job titles, bookmarks and side-event
RSVPs, then times ``GET /api/v1/connections/recommendations/`` (view,
scoring and serialization; authentication excluded) for sampled attendees:
cold (their cache entry deleted) and warm (served from Redis). Prints
p50/p99 and query counts, then drops the database and its cache keys.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/recommendations.py
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from common import admin_sql, database_urls, percentile

ATTENDEES = int(os.environ.get("BENCH_ATTENDEES", "5000"))
SAMPLES = 40
WARM_REPEATS = 2
DB_NAME = "ibw_bench_recommendations"
SEED = 20261122

INTERESTS = [
    "ZK", "DeFi", "Rust", "MEV", "Solidity", "Cryptography", "L2", "Rollups", "DAOs", "NFTs", "Privacy",
    "Account abstraction", "Wallets", "Security", "Auditing", "Governance", "Staking", "Restaking", "Oracles",
    "Bridges", "Interop", "Data availability", "Consensus", "P2P", "Formal verification", "Compilers", "EVM",
    "WASM", "Move", "Cairo", "Noir", "Circom", "FHE", "MPC", "TEEs", "AI agents", "Stablecoins", "RWA",
    "Payments", "Identity", "Social", "Gaming", "Public goods", "Regen", "Climate", "Research", "Economics",
    "Mechanism design", "Market making", "Trading", "Lending", "Derivatives", "Insurance", "Design", "UX",
    "Community", "Education", "Policy", "Legal", "Journalism", "Hardware", "Mobile", "Infra", "DevRel",
]  # fmt: skip
TITLES = [
    "Founder", "Co-founder & CEO", "Angel investor", "Partner at Example Ventures", "Investor", "Software Engineer",
    "Senior Developer", "Smart contract engineer", "Technical Recruiter", "Head of Talent", "Student",
    "Open to work", "Researcher", "Product Manager", "Designer", "DevRel", "Community lead", "CTO", "",
]  # fmt: skip
TRACKS = ["Research", "DeFi", "Security", "Privacy", "Scaling", "UX", "Governance", "Community"]


def _database_exists(admin_url: str) -> bool:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone() is not None


def _seed(rng: random.Random):
    from conferences.models import Attendance, Bookmark, Conference, Room, Session, Track
    from connections.models import Block, Connection, ConnectionStatus
    from events.models import RSVP, Event, RSVPStatus
    from users.models import User

    today = date.today()
    conference = Conference.objects.create(
        slug="bench-conf", name="Bench Conference", starts_on=today, ends_on=today + timedelta(days=3)
    )
    other_conference = Conference.objects.create(
        slug="other-conf", name="Other", starts_on=today, ends_on=today + timedelta(days=1)
    )
    room = Room.objects.create(conference=conference, name="Main")
    tracks = Track.objects.bulk_create([Track(conference=conference, name=name) for name in TRACKS])
    from django.utils import timezone

    start = timezone.now()
    sessions = Session.objects.bulk_create(
        [
            Session(
                conference=conference,
                guid=f"s-{i}",
                title=f"Session {i}",
                starts_at=start + timedelta(minutes=30 * i),
                ends_at=start + timedelta(minutes=30 * i + 25),
                room=room,
                track=rng.choice(tracks) if rng.random() < 0.9 else None,
            )
            for i in range(240)
        ]
    )
    events = Event.objects.bulk_create(
        [
            Event(
                conference=conference if i % 4 else None,
                title=f"Side event {i}",
                starts_at=start + timedelta(hours=i),
                ends_at=start + timedelta(hours=i + 2),
            )
            for i in range(60)
        ]
    )

    def spelled(term: str) -> str:
        return rng.choice([term, term.lower(), term.upper(), f" {term} "])

    users = User.objects.bulk_create(
        [
            User(
                telegram_id=10_000_000 + i,
                username=f"bench{i}",
                first_name=f"First{i}",
                last_name=f"Last{i}",
                company=f"Company {i % 700}",
                job_title=rng.choice(TITLES),
                interests=[spelled(t) for t in rng.sample(INTERESTS, rng.randint(2, 8))],
                enrichment_tags=rng.sample(INTERESTS, rng.randint(2, 5)) if rng.random() < 0.4 else [],
                directory_visible=rng.random() < 0.9,
            )
            for i in range(ATTENDEES)
        ],
        batch_size=2000,
    )
    Attendance.objects.bulk_create([Attendance(conference=conference, user=u) for u in users], batch_size=2000)
    Attendance.objects.bulk_create(
        [Attendance(conference=other_conference, user=u) for u in users[: ATTENDEES // 5]], batch_size=2000
    )
    Bookmark.objects.bulk_create(
        [Bookmark(user=u, session=s) for u in users for s in rng.sample(sessions, rng.randint(3, 16))],
        batch_size=5000,
    )
    RSVP.objects.bulk_create(
        [
            RSVP(user=u, event=e, status=RSVPStatus.GOING if rng.random() < 0.85 else RSVPStatus.WAITLISTED)
            for u in users
            for e in rng.sample(events, rng.randint(0, 5))
        ],
        batch_size=5000,
    )
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < ATTENDEES:
        a, b = rng.sample(users, 2)
        pairs.add((min(a.pk, b.pk), max(a.pk, b.pk)))
    Connection.objects.bulk_create(
        [
            Connection(from_user_id=a, to_user_id=b, status=rng.choice(ConnectionStatus.values))
            for a, b in sorted(pairs)
        ],
        batch_size=5000,
    )
    Block.objects.bulk_create(
        [Block(blocker=a, blocked=b) for a, b in (rng.sample(users, 2) for _ in range(ATTENDEES // 10))],
        batch_size=5000,
        ignore_conflicts=True,
    )
    counts = {
        "users": len(users),
        "bookmarks": Bookmark.objects.count(),
        "rsvps": RSVP.objects.count(),
        "connections": Connection.objects.count(),
        "blocks": Block.objects.count(),
    }
    return conference, users, counts


def _time_calls(view, factory, conference, callers, *, cold: bool, cold_index: bool = False):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import force_authenticate

    from meetings.recommendations import clear_cached_recommendations

    timings: list[float] = []
    cpu: list[float] = []
    queries: list[int] = []
    sizes: list[int] = []
    for caller in callers:
        if cold:
            clear_cached_recommendations(caller, conference)
        if cold_index:
            cache.delete(f"recs:index:v1:{conference.pk}")
        request = factory.get("/api/v1/connections/recommendations/", {"conference": conference.slug, "limit": 50})
        force_authenticate(request, user=caller)
        with CaptureQueriesContext(connection) as captured:
            began, began_cpu = time.perf_counter(), time.process_time()
            response = view(request)
            response.render()
            timings.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        assert response.status_code == 200, response.content[:300]
        queries.append(len(captured))
        sizes.append(len(response.data["results"]))
    return timings, queries, sizes, cpu


def main() -> None:
    began = time.perf_counter()
    admin_url, bench_url = database_urls(DB_NAME, __file__)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "ibw.settings"
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

    # BENCH_KEEP=1 keeps the seeded database for the next run, which then skips seeding.
    keep = os.environ.get("BENCH_KEEP") == "1"
    if not keep:
        admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    reuse = keep and _database_exists(admin_url)
    if not reuse:
        admin_sql(admin_url, f'CREATE DATABASE "{DB_NAME}"')
    callers = []
    conference = None
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections
        from rest_framework.test import APIRequestFactory

        from meetings.api.views import RecommendationListView
        from meetings.recommendations import clear_cached_recommendations

        rng = random.Random(SEED)
        if reuse:
            from conferences.models import Conference
            from users.models import User

            conference = Conference.objects.get(slug="bench-conf")
            users = list(User.objects.filter(attendances__conference=conference).order_by("pk"))
            rng.random()
            print(f"reusing the seeded {DB_NAME} ({len(users)} attendees)")
        else:
            call_command("migrate", verbosity=0)
            migrated = time.perf_counter()
            conference, users, counts = _seed(rng)
            seeded = time.perf_counter()
            print(f"seeded {counts} in {seeded - migrated:.1f}s (migrate {migrated - began:.1f}s)")

        callers = rng.sample(users, SAMPLES)
        view = RecommendationListView.as_view()
        factory = APIRequestFactory()
        _time_calls(view, factory, conference, callers[:3], cold=True)  # warm up imports and connections

        cold_all, cold_all_queries, sizes, cold_all_cpu = _time_calls(
            view, factory, conference, callers, cold=True, cold_index=True
        )
        cold, cold_queries, _, cold_cpu = _time_calls(view, factory, conference, callers, cold=True)
        warm: list[float] = []
        warm_cpu: list[float] = []
        warm_queries: list[int] = []
        for _ in range(WARM_REPEATS):
            timings, queries, _, cpu = _time_calls(view, factory, conference, callers, cold=False)
            warm += timings
            warm_cpu += cpu
            warm_queries += queries

        def line(name: str, values: list[float], queries: list[int], cpu: list[float]) -> str:
            return (
                f"{name:9} n={len(values):3}  p50={percentile(values, 50):6.1f} ms  p99={percentile(values, 99):6.1f} ms"
                f"  max={max(values):6.1f} ms  (our CPU p50={percentile(cpu, 50):5.1f} ms)  queries={min(queries)}..{max(queries)}"
            )

        with open("/proc/loadavg") as loadavg:
            load = loadavg.read().split()[0]
        print(f"attendees={ATTENDEES}  results per call: median {statistics.median(sizes):.0f} (limit 50)")
        print(f"machine: {os.cpu_count()} CPUs, load average {load}")
        print(line("cold-all", cold_all, cold_all_queries, cold_all_cpu) + "  <- every cache cleared")
        print(line("cold", cold, cold_queries, cold_cpu) + "  <- caller's entry cleared, attendee index cached")
        print(line("warm", warm, warm_queries, warm_cpu))
        print(f"cold-all/warm p50 ratio: {percentile(cold_all, 50) / percentile(warm, 50):.1f}x")
        print(f"cold-all p99 vs 1 s budget: {percentile(cold_all, 99) / 1000:.2f} of it")
        # One line per figure for bench/run_all.py: BENCH <figure> | <value> | <ratio>
        for name, values, note in (
            ("cold, every cache cleared", cold_all, f"p99 {percentile(cold_all, 99) / 1000:.2f} of the 1 s budget"),
            ("cold, attendee index cached", cold, "-"),
            ("warm", warm, f"cold-all {percentile(cold_all, 50) / percentile(warm, 50):.1f}x slower (p50)"),
        ):
            print(
                f"BENCH recommendations, {ATTENDEES:,} attendees, {name}, p50 / p99 | "
                f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f} ms | {note}"
            )

        from meetings.recommendations import recommendations_for

        top = recommendations_for(callers[0], conference=conference, limit=1)
        if top:
            print(f"example for user {callers[0].pk}: score {top[0].score}, reasons {top[0].reasons}")
        ok = percentile(cold_all, 99) < 1000
        print("PASS: well under a second" if ok else "FAIL: p99 over a second")
        for caller in callers:
            clear_cached_recommendations(caller, conference)
        connections.close_all()
    finally:
        if not keep:
            admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        print(f"total runtime {time.perf_counter() - began:.1f}s; {'kept' if keep else 'dropped'} {DB_NAME}")


if __name__ == "__main__":
    main()
