"""
Benchmark: HTTP on the production server (gunicorn, sync workers, ``ibw.wsgi``)
measured with wrk, against the targets of issue #12.

Creates the PostgreSQL database ``ibw_bench_http`` on the server named by
``DATABASE_URL``, migrates, imports the 400-session, 250-speaker conference
of ``bench/agenda.py`` (same generator, same seed), and starts gunicorn
(``gunicorn.conf.py``, ``BENCH_WEB_WORKERS`` workers, default 2) with
production settings (``DEBUG`` off, ``CONN_MAX_AGE=60``, throttles raised
out of the way). Then ``wrk -t1 -c8 -d<BENCH_SECONDS>s --latency``
(``BENCH_CONCURRENCY`` connections, default 8; 10 s each) on:

- ``GET /health`` (the floor);
- the agenda page ``sessions/?page_size=100`` (100 of 400), cached;
- the same page with an unknown parameter: the page cache is bypassed
  (queries and serialization every request);
- ``GET schedule.ics`` (400 VEVENTs), cached.

Prints req/s, p50, p99 and errors (socket errors, non-2xx/3xx) for each, the
ratio to ``/health`` and whether it meets the target: cached agenda ≥ 0.25,
uncached ≥ 0.05, ``schedule.ics`` ≥ 0.1 of ``/health`` req/s, each with
p99 under 100 ms. Installs wrk with ``apt-get`` when it is missing (Debian,
as root). Prints ``uptime`` before and after: the machine may be shared.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/gunicorn_http.py
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from agenda import DAYS, ROOMS, SEED, SESSIONS_PER_DAY_ROOM, SPEAKERS, generate_schedule  # noqa: E402
from common import (  # noqa: E402
    THROTTLES_OUT_OF_THE_WAY,
    admin_sql,
    database_urls,
    ensure_wrk,
    manage,
    production_env,
    start_redis_unless_given,
    uptime,
)

PYTHON = sys.executable
DB_NAME = "ibw_bench_http"
SLUG = "bench-http"
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
P99_TARGET_MS = 100.0
TARGETS = {"agenda": 0.25, "agenda_uncached": 0.05, "ics": 0.1}


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(binary: str, url: str, *, script: Path | None = None) -> dict:
    """Run wrk on ``url`` (requests made by the Lua ``script`` when given); return req/s, p50/p99 ms and errors."""
    scripted = ["-s", str(script)] if script else []
    out = subprocess.run(
        [binary, "-t1", f"-c{CONCURRENCY}", f"-d{SECONDS}s", "--latency", "--timeout", "10s", *scripted, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=SECONDS + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(n) for n in socket.groups()) if socket else 0
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": p50, "p99": p99, "errors": non_2xx + socket_errors, "requests": total}


def main() -> int:
    from tests.topology import Topology

    binary = ensure_wrk()
    admin_url, bench_url = database_urls(DB_NAME, __file__)
    admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    admin_sql(admin_url, f'CREATE DATABASE "{DB_NAME}"')
    redis = None
    workdir = tempfile.TemporaryDirectory(prefix="ibw-bench-http-")
    before = uptime()
    try:
        env = dict(os.environ)
        redis = start_redis_unless_given(env, workdir.name)
        env.update(production_env(bench_url, **THROTTLES_OUT_OF_THE_WAY))
        env.pop("IBW_TESTING", None)
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        manage("migrate", "--noinput", "-v", "0", env=env)
        schedule = Path(workdir.name) / "schedule.json"
        schedule.write_text(json.dumps(generate_schedule(random.Random(SEED))))
        counts = manage("import_schedule", SLUG, str(schedule), "--create", env=env).strip().splitlines()[-1]
        print(f"Imported {counts}")
        # Planner statistics, as autovacuum gathers them within a minute of an import: without
        # them PostgreSQL guesses 2 sessions per conference and sorts the whole agenda per page.
        admin_sql(bench_url, "ANALYZE")

        with Topology(env=env, web_workers=WEB_WORKERS, proxy=False, daphne=False) as stack:
            base = stack.direct_web_url
            agenda = f"{base}/api/v1/conferences/{SLUG}/sessions/?page_size=100"
            paths = {
                "health": f"{base}/health",
                "agenda": agenda,
                "agenda_uncached": agenda + "&bench=uncached",
                "ics": f"{base}/api/v1/conferences/{SLUG}/schedule.ics",
            }
            import httpx

            for url in paths.values():  # warm: caches filled, each worker connected
                for _ in range(2 * WEB_WORKERS):
                    response = httpx.get(url, timeout=30)
                    if response.status_code != 200:
                        raise RuntimeError(f"{url} answered {response.status_code}")
            results = {name: wrk(binary, url) for name, url in paths.items()}
            time.sleep(0.5)
    finally:
        if redis is not None:
            redis.stop()
        workdir.cleanup()
        admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    after = uptime()

    health = results["health"]
    size = f"{DAYS * ROOMS * SESSIONS_PER_DAY_ROOM} sessions, {SPEAKERS} speakers"
    labels = {
        "health": "GET /health",
        "agenda": f"agenda page (100 of {size}), cached",
        "agenda_uncached": "agenda page, page cache bypassed",
        "ics": f"schedule.ics ({size})",
    }
    print(
        f"\ngunicorn, {WEB_WORKERS} workers × {os.environ.get('WEB_THREADS', '1')} thread(s); wrk -t1 -c{CONCURRENCY} -d{SECONDS}s on each path"
    )
    print(f"load before: {before}\nload after:  {after}\n")
    print(f"{'request':<48} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs /health':>10}  target")
    failed = False
    for key, label in labels.items():
        r = results[key]
        ratio = r["rps"] / health["rps"]
        target = TARGETS.get(key)
        verdict = "-"
        if target is not None:
            ok = ratio >= target and r["p99"] < P99_TARGET_MS
            failed |= not ok
            verdict = f"{'met' if ok else 'MISSED'} (>= {target}, p99 < {P99_TARGET_MS:.0f} ms)"
        failed |= r["errors"] > 0
        print(
            f"{label:<48} {r['rps']:>9.1f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>7} {ratio:>10.3f}  {verdict}"
        )
    for key, label in labels.items():
        r = results[key]
        ratio = r["rps"] / health["rps"]
        target = f"; target >= {TARGETS[key]}" if key in TARGETS else ""
        print(
            f"BENCH {label} via gunicorn ({WEB_WORKERS} workers, wrk -c{CONCURRENCY}), req/s (p50 / p99) | "
            f"{r['rps']:.0f} req/s ({r['p50']:.1f} / {r['p99']:.1f} ms), {r['errors']} errors | "
            f"{ratio:.3f} of /health{target}"
        )
    print(f"BENCH load average during bench/gunicorn_http.py | {after.split('load average:')[-1].strip()} | -")
    if failed:
        print("\nSome target was missed or a request failed (see the table).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
