"""
Benchmark: ``q`` on the agenda and the attendee directory, full-text search
(ADR 0011) against the substring scan it replaced, on the production HTTP
server (gunicorn, ``gunicorn.conf.py``), measured with wrk (issue #25).

Creates the PostgreSQL database ``ibw_bench_search`` on the server named by
``DATABASE_URL``, migrates, and writes one conference with 4,000 sessions
(title, an abstract of 40-80 words, 1-3 of 1,500 speakers, one of 12
tracks) and 20,000 listed attendees (name, company, job title, 2-5
interests), from a fixed seed. Then, in the same run, gunicorn
(``BENCH_WEB_WORKERS`` workers, default 2) is started twice: with
``SEARCH_MODE=full_text`` (the default) and with ``SEARCH_MODE=substring``
(the ``icontains`` scan; a setting, not an API parameter). Against each,
``wrk -t1 -c8 -d<BENCH_SECONDS>s`` (``BENCH_CONCURRENCY``, default 8; 10 s)
on four mixes, each cycling through its queries (a Lua script):

- sessions, one word (``kubernetes``, ``observability``, a speaker's name...);
- sessions, two words (``kubernetes operators``, a speaker's full name...);
- attendees, one word (a first name, a company, an interest...);
- attendees, two words (a full name, ``platform engineer``...).

Prints req/s, p50, p99 and errors of each, and whether full-text search
meets the targets: p99 ≤ 50 ms and req/s ≥ 5× the substring scan's. Before
the servers start, it also times the SQL of each search in-process (the
page's count and first 20 rows, both modes), which shows the index's part
apart from the HTTP, Django and serialization cost both modes share.
Prints ``uptime`` before and after: the machine may be shared. Installs wrk
with ``apt-get`` when missing (as ``bench/gunicorn_http.py`` does).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/search.py
"""

from __future__ import annotations

import os
import random
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from common import admin_sql, database_urls, ensure_wrk, uptime  # noqa: E402
from gunicorn_http import wrk  # noqa: E402

DB_NAME = "ibw_bench_search"
SLUG = "bench-search"
SEED = 25
SESSIONS = 4_000
SPEAKERS = 1_500
ATTENDEES = 20_000
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
P99_TARGET_MS = 50.0
RATIO_TARGET = 5.0


def _split(text: str) -> list[str]:
    return text.split()


TOPICS = _split(
    "kubernetes operators observability tracing postgres replication rust compilers security fuzzing "
    "webassembly serverless caching kafka streaming graphql accessibility typescript python django "
    "monitoring incident response terraform networking ebpf linux scheduling databases indexing "
    "search embeddings privacy cryptography payments mobile testing refactoring design leadership "
    "hiring onboarding documentation open source licensing energy robotics sensors firmware"
)
FILLER = _split(
    "we how the a to of and in for with about our your this that from into at by on is are will "
    "learn show build run scale share lessons story practical deep dive production teams real "
    "world patterns pitfalls tools years journey approach system service platform users data"
)
TRACKS = [
    "Cloud native",
    "Data",
    "Security",
    "Languages",
    "Frontend",
    "Operations",
    "Hardware",
    "Community",
    "Machine learning",
    "Mobile",
    "Web",
    "Leadership",
]
FIRST = _split(
    "Ada Alan Grace Linus Guido Barbara Ken Dennis Margaret Tim Radia Donald Edsger John Frances Leslie "
    "Bjarne James Anita Katherine María José Zoë Chloé Renée Søren Björn Łukasz Ana Mei Hiro Aiko Ravi "
    "Priya Omar Fatima Lars Ingrid Paolo Giulia Noah Emma Liam Olivia Mateo Sofia Lucas Mia Elena"
)
LAST = _split(
    "Lovelace Turing Hopper Torvalds Rossum Liskov Thompson Ritchie Hamilton Berners Perlman Knuth "
    "Dijkstra McCarthy Allen Lamport Stroustrup Gosling Borg Johnson García Núñez Müller Dubois "
    "Kowalski Nakamura Tanaka Sharma Patel Haddad Andersen Nilsson Rossi Bianchi Schmidt Novak Silva"
)
COMPANIES = [f"{word.capitalize()} {kind}" for word in TOPICS[:40] for kind in ("Labs", "Inc", "GmbH", "Systems")]
JOBS = [
    "Platform engineer",
    "Site reliability engineer",
    "Backend developer",
    "Frontend developer",
    "Data scientist",
    "Engineering manager",
    "Security researcher",
    "Product manager",
    "Developer advocate",
    "CTO",
    "Founder",
    "Student",
]

SESSION_ONE_WORD = ["kubernetes", "observability", "rust", "fuzzing", "ebpf", "cryptography", "Dijkstra", "firmware"]
SESSION_TWO_WORDS = [
    "kubernetes operators",
    "postgres replication",
    "rust compilers",
    "Grace Hopper",
    "incident response",
    "search embeddings",
    "webassembly serverless",
    "open source",
]
ATTENDEE_ONE_WORD = ["maría", "kowalski", "engineer", "terraform", "Hopper", "founder", "chloe", "robotics"]
ATTENDEE_TWO_WORDS = [
    "ada lovelace",
    "platform engineer",
    "jose garcia",
    "kubernetes labs",
    "data scientist",
    "linus torvalds",
    "security researcher",
    "emma rossi",
]


def _configure(bench_url: str) -> None:
    """Point this process at the bench database with production settings, then set Django up."""
    os.environ.update(
        DATABASE_URL=bench_url,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CONN_MAX_AGE="60",
        THROTTLE_ANON="100000000/min",
        THROTTLE_USER="100000000/min",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="ibw.settings",
    )
    os.environ.pop("IBW_TESTING", None)
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    os.environ.pop("SEARCH_MODE", None)
    import django

    django.setup()


def _words(rng: random.Random, vocabulary: list[str], count: int) -> list[str]:
    return [rng.choice(vocabulary) for _ in range(count)]


def populate() -> str:
    """Write the conference, its sessions and attendees; return an attendee's access token."""
    from django.db import transaction

    from conferences.models import Attendance, Conference, Session, SessionSpeaker, Speaker, Track
    from users.models import User
    from users.services import issue_tokens

    rng = random.Random(SEED)
    started = time.perf_counter()
    with transaction.atomic():
        conference = Conference.objects.create(
            slug=SLUG, name="Search bench", starts_on=date(2030, 5, 1), ends_on=date(2030, 5, 5)
        )
        tracks = Track.objects.bulk_create([Track(conference=conference, name=name) for name in TRACKS])
        speakers = Speaker.objects.bulk_create(
            [
                Speaker(
                    conference=conference,
                    name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    bio=" ".join(_words(rng, FILLER + TOPICS, 30)).capitalize() + ".",
                )
                for _ in range(SPEAKERS)
            ]
        )
        first_start = datetime(2030, 5, 1, 8, tzinfo=UTC)
        sessions = []
        for n in range(SESSIONS):
            starts_at = first_start + timedelta(days=n % 5, minutes=30 * (n // 5 % 24))
            title_words = [*_words(rng, TOPICS, 2), *_words(rng, FILLER, rng.randint(1, 3))]
            rng.shuffle(title_words)
            abstract = _words(rng, FILLER, rng.randint(35, 70)) + _words(rng, TOPICS, 5)
            rng.shuffle(abstract)
            sessions.append(
                Session(
                    conference=conference,
                    guid=f"bench-{n}",
                    title=" ".join(title_words).capitalize(),
                    abstract=" ".join(abstract).capitalize() + ".",
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(minutes=30),
                    track=rng.choice(tracks),
                )
            )
        sessions = Session.objects.bulk_create(sessions)
        SessionSpeaker.objects.bulk_create(
            [
                SessionSpeaker(session=session, speaker=speaker, position=position)
                for session in sessions
                for position, speaker in enumerate(rng.sample(speakers, rng.randint(1, 3)))
            ]
        )
        users = User.objects.bulk_create(
            [
                User(
                    telegram_id=1_000_000 + n,
                    username=f"attendee{n}",
                    first_name=rng.choice(FIRST),
                    last_name=rng.choice(LAST),
                    company=rng.choice(COMPANIES),
                    job_title=rng.choice(JOBS),
                    interests=rng.sample(TOPICS, rng.randint(2, 5)),
                    directory_visible=True,
                )
                for n in range(ATTENDEES)
            ],
            batch_size=2000,
        )
        Attendance.objects.bulk_create(
            [Attendance(conference=conference, user=user) for user in users], batch_size=2000
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"Wrote {SESSIONS} sessions ({SPEAKERS} speakers, {len(TRACKS)} tracks) and {ATTENDEES} attendees "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return issue_tokens(users[0])["access"]


def _lua(paths: list[str], token: str | None) -> str:
    listed = ",\n".join(f'  "{path}"' for path in paths)
    header = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    return (
        f"{header}local paths = {{\n{listed}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\n'
        "end\n"
    )


def mixes(token: str) -> dict[str, tuple[list[str], str | None]]:
    sessions = f"/api/v1/conferences/{SLUG}/sessions/?q="
    attendees = f"/api/v1/conferences/{SLUG}/attendees/?q="
    return {
        "sessions, one word": ([sessions + quote(q) for q in SESSION_ONE_WORD], None),
        "sessions, two words": ([sessions + quote(q) for q in SESSION_TWO_WORDS], None),
        "attendees, one word": ([attendees + quote(q) for q in ATTENDEE_ONE_WORD], token),
        "attendees, two words": ([attendees + quote(q) for q in ATTENDEE_TWO_WORDS], token),
    }


def database_timings(rounds: int = 5) -> dict[str, dict[str, float]]:
    """
    Milliseconds of SQL one search costs in-process (the page's count and its
    first 20 rows, as the list endpoints run them), median of ``rounds``,
    averaged over each mix's queries, for each ``SEARCH_MODE``: the database
    part of a request, without HTTP, Django and serialization.
    """
    import statistics

    from django.conf import settings

    from conferences.models import Conference
    from conferences.selectors import sessions_for_conference
    from connections.selectors import attendees_directory
    from users.models import User

    conference = Conference.objects.get(slug=SLUG)
    viewer = User.objects.get(username="attendee0")
    queries = {
        "sessions, one word": SESSION_ONE_WORD,
        "sessions, two words": SESSION_TWO_WORDS,
        "attendees, one word": ATTENDEE_ONE_WORD,
        "attendees, two words": ATTENDEE_TWO_WORDS,
    }
    timings: dict[str, dict[str, float]] = {}
    for mode in ("full_text", "substring"):
        settings.SEARCH_MODE = mode
        for name, words in queries.items():
            per_query = []
            for q in words:
                samples = []
                for _ in range(rounds):
                    queryset = (
                        sessions_for_conference(conference, q=q)
                        if name.startswith("sessions")
                        else attendees_directory(conference, viewer=viewer, q=q)
                    )
                    started = time.perf_counter()
                    queryset.count()
                    list(queryset[:20])
                    samples.append((time.perf_counter() - started) * 1000)
                per_query.append(statistics.median(samples))
            timings.setdefault(name, {})[mode] = sum(per_query) / len(per_query)
    settings.SEARCH_MODE = "full_text"
    return timings


def measure(mode: str, binary: str, token: str, workdir: Path) -> tuple[dict, dict]:
    """Start gunicorn with ``SEARCH_MODE=mode``, check every query answers 200, run wrk on each mix."""
    import httpx

    from tests.topology import Topology

    results: dict[str, dict] = {}
    found: dict[str, int] = {}
    with Topology(env=dict(os.environ), web_workers=WEB_WORKERS, proxy=False, daphne=False, SEARCH_MODE=mode) as stack:
        base = stack.direct_web_url
        for name, (paths, auth) in mixes(token).items():
            headers = {"Authorization": f"Bearer {auth}"} if auth else {}
            total = 0
            for path in paths:
                for _ in range(WEB_WORKERS):  # each worker connected and warm
                    response = httpx.get(base + path, headers=headers, timeout=60)
                    if response.status_code != 200:
                        raise RuntimeError(f"{mode}: {path} answered {response.status_code}: {response.text[:200]}")
                total += response.json()["count"]
            found[name] = total // len(paths)
            script = workdir / f"{mode}-{name.replace(' ', '-').replace(',', '')}.lua"
            script.write_text(_lua(paths, auth))
            results[name] = wrk(binary, base + paths[0], script=script)
        time.sleep(0.5)
    return results, found


def main() -> int:
    binary = ensure_wrk()
    admin_url, bench_url = database_urls(DB_NAME, __file__)
    admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    admin_sql(admin_url, f'CREATE DATABASE "{DB_NAME}"')
    workdir = tempfile.TemporaryDirectory(prefix="ibw-bench-search-")
    redis = None
    before = uptime()
    try:
        if not os.environ.get("REDIS_URL"):
            from ibw.embedded import EmbeddedRedis, free_port

            redis = EmbeddedRedis(free_port(), workdir=Path(workdir.name) / "redis").start()
            os.environ["REDIS_URL"] = redis.url
        _configure(bench_url)
        from django.core.management import call_command

        call_command("migrate", "--noinput", verbosity=0)
        token = populate()
        sql = database_timings()
        from django.db import connections

        connections.close_all()
        full, found_full = measure("full_text", binary, token, Path(workdir.name))
        scan, found_scan = measure("substring", binary, token, Path(workdir.name))
    finally:
        if redis is not None:
            redis.stop()
        workdir.cleanup()
        admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    after = uptime()

    print(f"\ngunicorn, {WEB_WORKERS} sync workers; wrk -t1 -c{CONCURRENCY} -d{SECONDS}s on each mix")
    print(f"load before: {before}\nload after:  {after}\n")
    print(
        f"{'mix':<22} {'mode':<10} {'matches':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'ratio':>7}  target"
    )
    failed = False
    for name in full:
        f, s = full[name], scan[name]
        ratio = f["rps"] / s["rps"] if s["rps"] else float("inf")
        ok = f["p99"] <= P99_TARGET_MS and ratio >= RATIO_TARGET and f["errors"] == 0
        failed |= not ok
        verdict = f"{'met' if ok else 'MISSED'} (p99 <= {P99_TARGET_MS:.0f} ms, >= {RATIO_TARGET:.0f}x)"
        print(
            f"{name:<22} {'full-text':<10} {found_full[name]:>8} {f['rps']:>8.1f} {f['p50']:>8.2f} "
            f"{f['p99']:>8.2f} {f['errors']:>7} {ratio:>6.1f}x  {verdict}"
        )
        print(
            f"{'':<22} {'substring':<10} {found_scan[name]:>8} {s['rps']:>8.1f} {s['p50']:>8.2f} "
            f"{s['p99']:>8.2f} {s['errors']:>7}"
        )
    size = f"{SESSIONS:,} sessions, {ATTENDEES:,} attendees"
    for name in full:
        f, s = full[name], scan[name]
        ratio = f["rps"] / s["rps"] if s["rps"] else float("inf")
        print(
            f"BENCH search {name} ({size}), full-text via gunicorn ({WEB_WORKERS} workers, wrk -c{CONCURRENCY}), "
            f"req/s (p50 / p99) | {f['rps']:.0f} req/s ({f['p50']:.1f} / {f['p99']:.1f} ms), {f['errors']} errors | "
            f"{ratio:.1f}x the substring scan ({s['rps']:.0f} req/s, p99 {s['p99']:.0f} ms); "
            f"target >= {RATIO_TARGET:.0f}x, p99 <= {P99_TARGET_MS:.0f} ms"
        )
    print("\nSQL per search in-process (count + first page of 20), median of 5, mean over each mix's queries:")
    for name, by_mode in sql.items():
        ratio = by_mode["substring"] / by_mode["full_text"]
        print(
            f"  {name:<22} full-text {by_mode['full_text']:7.2f} ms  substring {by_mode['substring']:7.2f} ms  {ratio:5.1f}x"
        )
        print(
            f"BENCH search {name} ({size}), SQL per search (count + first page), full-text | "
            f"{by_mode['full_text']:.2f} ms | the substring scan {by_mode['substring']:.2f} ms: {ratio:.1f}x slower"
        )
    print(f"BENCH load average during bench/search.py | {after.split('load average:')[-1].strip()} | -")
    if failed:
        print("\nSome target was missed or a request failed (see the table).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
