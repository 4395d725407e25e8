"""
Benchmark: the whole agenda as one document (``schedule.json``) on the
production HTTP server, gunicorn with 2 sync workers (``ibw.wsgi``),
against the same server's ``/health``, driven by wrk with 8 connections.

Creates the PostgreSQL database ``ibw_bench_schedule`` (dropped at the end),
migrates, imports the 400-session bench agenda of ``bench/agenda.py``
(4 days x 10 rooms x 10 slots, 250 speakers) and a 4,000-session one (the
same agenda in ten times as many rooms). Then it measures, in
``BENCH_ROUNDS`` interleaved rounds (default 3; the medians are reported,
so a change in the machine's load weighs on all three alike), each for
``BENCH_SECONDS`` (default 5) after a 2 s warm-up, with
``wrk -t1 -c8 --latency``:

- ``GET /health`` (the server's floor);
- ``GET …/schedule.json`` with ``Accept-Encoding: gzip`` (the whole agenda);
- the same with ``If-None-Match`` (the 304 a polling app gets);

and prints requests/s and p99 of each, the ratios to ``/health`` of the
same run against the targets (>= 0.1 and >= 0.5, p99 < 100 ms), each
request's own cost one client at a time (no concurrency: what the server
spends, apart from waiting for the shared CPUs), the
document's size plain and gzip, and how long building it (all four
representations) takes for 400 and for 4,000 sessions. wrk is installed
with apt-get when it is missing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/schedule_export.py
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agenda import SEED, generate_schedule  # noqa: E402  (the same bench agenda as bench/agenda.py)
from common import (  # noqa: E402
    THROTTLES_OUT_OF_THE_WAY,
    admin_sql,
    database_urls,
    ensure_wrk,
    free_port,
    manage,
    production_env,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DB_NAME = "ibw_bench_schedule"
SLUG = "bench-schedule"
SLUG_BIG = "bench-schedule-4000"
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = 8
WORKERS = 2


def tenfold(schedule: dict) -> dict:
    """The agenda in ten times as many rooms: 4,000 sessions, new guids, the same speakers."""
    big = json.loads(json.dumps(schedule))
    conference = big["schedule"]["conference"]
    conference["rooms"] = [
        {**room, "name": f"{room['name']} {copy}", "guid": str(uuid.uuid4())}
        for copy in range(10)
        for room in schedule["schedule"]["conference"].get("rooms", [])
    ]
    for day in conference["days"]:
        rooms = {}
        for copy in range(10):
            for name, events in day["rooms"].items():
                rooms[f"{name} {copy}"] = [
                    {**event, "room": f"{name} {copy}", "guid": str(uuid.uuid4())} for event in events
                ]
        day["rooms"] = rooms
    return big


def wrk(binary: str, url: str, headers: dict[str, str]) -> dict[str, float]:
    """Run wrk (after a warm-up) and return req/s and p99 in ms."""
    args = [binary, "-t1", f"-c{CONNECTIONS}", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    subprocess.run([*args, "-d2s", url], check=True, capture_output=True, text=True)
    output = subprocess.run([*args, f"-d{SECONDS}s", url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    match = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    p99 = float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    if non_2xx or errors:
        print(f"  wrk noted: {non_2xx.group(0) if non_2xx else ''} {errors.group(0) if errors else ''}")
    return {"rps": rps, "p99": p99}


def one_at_a_time(port: int, url: str, headers: dict[str, str]) -> float:
    """
    The server's own cost of one request, without concurrency: the best of
    five batches of 100 sequential requests (a new connection each, as wrk
    makes against sync workers), in ms.
    """
    path = urlsplit(url).path
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode()
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(100):
            with socket.create_connection(("127.0.0.1", port)) as conn:
                conn.sendall(request)
                while conn.recv(65536):
                    pass
        batches.append((time.perf_counter() - started) * 10)
    return min(batches)


BUILD_SNIPPET = """
import time, json
from conferences.documents import encode_documents
from conferences.export import build_schedule
from conferences.models import Conference
out = {}
for slug in %r:
    pk = Conference.objects.get(slug=slug).pk
    build_schedule(pk)  # warm: imports, connection
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        docs = encode_documents(build_schedule(pk))
        runs.append(time.perf_counter() - started)
    out[slug] = {"ms": sorted(runs)[1] * 1000, "events": build_schedule(pk).event_count,
                 "plain": len(docs[("json", "plain")].body), "gzip": len(docs[("json", "gzip")].body),
                 "xml": len(docs[("xml", "plain")].body), "xml_gzip": len(docs[("xml", "gzip")].body)}
print("RESULT " + json.dumps(out))
"""


def main() -> int:
    print(f"load average at the start: {os.getloadavg()[0]:.1f} (the machine is shared; see the ratios)")
    wrk_binary = ensure_wrk()
    admin_url, bench_url = database_urls(DB_NAME, __file__)
    admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    admin_sql(admin_url, f'CREATE DATABASE "{DB_NAME}"')
    server = None
    workdir = tempfile.TemporaryDirectory(prefix="ibw-bench-schedule-")
    try:
        env = dict(os.environ)
        env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")
        env.update(
            production_env(
                bench_url,
                **THROTTLES_OUT_OF_THE_WAY,
                # No worker runs here: the first request builds the document (under the lock).
                CELERY_TASK_ALWAYS_EAGER="false",
            )
        )
        env.pop("IBW_TESTING", None)
        manage("migrate", "--noinput", "-v", "0", env=env, timeout=900)
        schedule = generate_schedule(random.Random(SEED))
        for slug, data in ((SLUG, schedule), (SLUG_BIG, tenfold(schedule))):
            path = Path(workdir.name) / f"{slug}.json"
            path.write_text(json.dumps(data))
            counts = (
                manage("import_schedule", slug, str(path), "--create", env=env, timeout=900).strip().splitlines()[-1]
            )
            print(f"Imported {slug}: {counts}")
        # Nothing else may answer from a store left by an earlier run on the same Redis database.
        import redis

        client = redis.Redis.from_url(env["REDIS_URL"])
        for key in client.scan_iter(match="schedule:bench-schedule*"):
            client.delete(key)

        build = json.loads(
            manage("shell", "-c", BUILD_SNIPPET % ([SLUG, SLUG_BIG],), env=env, timeout=900).split("RESULT ", 1)[1]
        )

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "ibw.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /health")
            time.sleep(0.3)
        url = f"{base}/api/v1/conferences/{SLUG}/schedule.json"
        first = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30)
        assert first.status_code == 200 and first.headers["content-encoding"] == "gzip", first.headers
        etag = first.headers["etag"]
        assert len(json.loads(first.content)["schedule"]["conference"]["days"]) == 4
        targets = {
            "health": (f"{base}/health", {}),
            "schedule": (url, {"Accept-Encoding": "gzip"}),
            "not_modified": (url, {"Accept-Encoding": "gzip", "If-None-Match": etag}),
        }
        rounds: dict[str, list[dict[str, float]]] = {key: [] for key in targets}
        order = list(targets)
        for number in range(1, ROUNDS + 1):
            # A different order each round, so a periodic load on the shared machine hits each alike.
            for key in order[number - 1 :] + order[: number - 1]:
                target, headers = targets[key]
                rounds[key].append(wrk(wrk_binary, target, headers))
            print(
                f"round {number}: "
                + ", ".join(
                    f"{key} {rounds[key][-1]['rps']:.0f} req/s p99 {rounds[key][-1]['p99']:.1f} ms" for key in targets
                ),
                flush=True,
            )
        sequential = {key: one_at_a_time(port, target, headers) for key, (target, headers) in targets.items()}
        results = {
            key: {"rps": statistics.median(r["rps"] for r in runs), "p99": statistics.median(r["p99"] for r in runs)}
            for key, runs in rounds.items()
        }
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        workdir.cleanup()
        admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')

    health = results["health"]["rps"]
    print(
        f"\ngunicorn {WORKERS} sync workers, wrk -t1 -c{CONNECTIONS} -d{SECONDS}s, medians of {ROUNDS} rounds,"
        f" load average {os.getloadavg()[0]:.1f} at the end"
    )
    labels = {
        "health": ("GET /health on gunicorn (2 sync workers), wrk -c8,", None),
        "schedule": ("GET schedule.json (400 sessions, Accept-Encoding: gzip) on gunicorn, wrk -c8,", 0.1),
        "not_modified": ("GET schedule.json with If-None-Match -> 304 on gunicorn, wrk -c8,", 0.5),
    }
    for key, (label, target) in labels.items():
        figures = results[key]
        ratio = figures["rps"] / health
        verdict = "-"
        if target is not None:
            ok = ratio >= target and figures["p99"] < 100
            verdict = f"{ratio:.2f} of /health (target >= {target}, p99 < 100 ms: {'met' if ok else 'NOT met'})"
        print(f"BENCH {label} req/s | {figures['rps']:.0f} | {verdict}")
        print(f"BENCH {label} p99 | {figures['p99']:.1f} ms | -")
    print(
        "BENCH one client at a time, new connection each, best of 5 x 100 requests | "
        + ", ".join(f"{key} {ms:.2f} ms" for key, ms in sequential.items())
        + f" | 304 costs {sequential['not_modified'] / sequential['health']:.2f}x /health"
    )
    small, big = build[SLUG], build[SLUG_BIG]
    print(
        f"BENCH schedule.json size, {small['events']} sessions | {small['plain'] / 1024:.0f} KiB plain, "
        f"{small['gzip'] / 1024:.0f} KiB gzip | {small['plain'] / small['gzip']:.1f}x smaller"
    )
    print(
        f"BENCH schedule.xml size, {small['events']} sessions | {small['xml'] / 1024:.0f} KiB plain, "
        f"{small['xml_gzip'] / 1024:.0f} KiB gzip | {small['xml'] / small['xml_gzip']:.1f}x smaller"
    )
    for figures in (small, big):
        print(
            f"BENCH schedule build (json+xml, plain+gzip), {figures['events']} sessions | {figures['ms']:.0f} ms | "
            f"once per agenda change"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
