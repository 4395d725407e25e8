"""
Benchmark: what a photo costs the web processes, sent directly to storage
versus through them (issue #25).

Creates the PostgreSQL database ``ibw_bench_uploads`` on the server named by
``DATABASE_URL``, migrates, starts moto's S3 server on 127.0.0.1 (with S3's
POST policy rules, ``tests/fakes/s3.py``) and the production HTTP server
(gunicorn, ``gunicorn.conf.py``, ``BENCH_WEB_WORKERS`` sync workers, default
2, ``DEBUG`` off) with ``STORAGE_BACKEND=s3`` pointed at moto. One user, one
quest of ``BENCH_UPLOADS`` (default 100) photo-proof tasks. Then, in the same
run, ``BENCH_UPLOADS`` photos of ``BENCH_UPLOAD_MB`` MB (default 3, random
pixels as PNG) each:

- direct: ``POST /api/v1/uploads/`` → the presigned POST sent to S3 (moto)
  → ``POST …/complete/`` (size and Pillow check, reading the object back)
  → ``POST …/submissions/ {"upload"}``: a photo proof awaiting review;
- through the web process: ``PUT /api/v1/users/me/avatar/`` with the file
  as multipart (parsed, checked and written to S3 by the worker).

The web processes' CPU time (user + system of the gunicorn workers, from
``/proc/<pid>/stat``) is read before and after each path; the figure is CPU
seconds per upload, and the ratio is through-the-web ÷ direct (goal ≥ 20).
Wall time per upload is printed too. Prints ``uptime`` before and after: the
machine may be shared.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/uploads.py
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

# The helpers the production-server benches share: load, manage.py, admin SQL.
from common import admin_sql, database_urls, manage, uptime  # noqa: E402

DB_NAME = "ibw_bench_uploads"
BUCKET = "ibw-bench-media"
UPLOADS = int(os.environ.get("BENCH_UPLOADS", "100"))
UPLOAD_MB = float(os.environ.get("BENCH_UPLOAD_MB", "3"))
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
RATIO_TARGET = 20.0
# The worker-time figure: a few multipart uploads sent at a phone's pace.
CLIENT_MBPS = float(os.environ.get("BENCH_CLIENT_MBPS", "1"))
SLOW_UPLOADS = int(os.environ.get("BENCH_SLOW_UPLOADS", "5"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

SETUP = """
import json
from datetime import timedelta
from django.utils import timezone
from quests.models import TaskType
from quests.services import create_quest
from users.models import User
from users.services import issue_tokens
user = User.objects.create(telegram_id=4242, username="bench-photographer", first_name="Bench")
now = timezone.now()
quest = create_quest(
    title="Photo hunt", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1),
    tasks=[{"title": f"Photo {n}", "type": TaskType.PROOF, "points": 1, "config": {"kind": "photo"}} for n in range(%d)],
)
print(json.dumps({"access": issue_tokens(user)["access"], "quest": quest.pk,
                  "tasks": list(quest.tasks.order_by("pk").values_list("pk", flat=True))}))
"""


def photo(seed: int) -> bytes:
    """A PNG of random pixels (incompressible), about UPLOAD_MB megabytes."""
    from PIL import Image

    side = int((UPLOAD_MB * 1024 * 1024 / 3) ** 0.5)
    pixels = random.Random(seed).randbytes(side * side * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def worker_cpu_seconds(master_pid: int) -> float:
    """User + system CPU seconds of the gunicorn master's children (the workers) so far."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state, ppid, ... utime is field 14, stime 15 of the whole line.
        if int(fields[1]) == master_pid:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def main() -> int:
    import httpx

    from ibw.embedded import EmbeddedRedis, free_port
    from tests.fakes.s3 import PolicyCheckingMotoServer
    from tests.topology import Topology

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    admin_url, bench_url = database_urls(DB_NAME, __file__)
    admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    admin_sql(admin_url, f'CREATE DATABASE "{DB_NAME}"')
    redis = None
    workdir = tempfile.TemporaryDirectory(prefix="ibw-bench-uploads-")
    access_key, secret_key = "bench-key", secrets.token_hex(16)
    moto_port = free_port()
    moto = PolicyCheckingMotoServer(port=moto_port, secrets={access_key: secret_key})
    moto.start()
    endpoint = f"http://127.0.0.1:{moto_port}"
    before = uptime()
    results: dict[str, dict[str, float]] = {}
    try:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
        ).create_bucket(Bucket=BUCKET)
        env = dict(os.environ)
        if not env.get("REDIS_URL"):
            redis = EmbeddedRedis(free_port(), workdir=Path(workdir.name) / "redis").start()
            env["REDIS_URL"] = redis.url
        env.update(
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
            STORAGE_BACKEND="s3",
            AWS_STORAGE_BUCKET_NAME=BUCKET,
            AWS_S3_ENDPOINT_URL=endpoint,
            AWS_S3_REGION_NAME="us-east-1",
            AWS_ACCESS_KEY_ID=access_key,
            AWS_SECRET_ACCESS_KEY=secret_key,
            AWS_S3_ADDRESSING_STYLE="path",
        )
        env.pop("IBW_TESTING", None)
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        manage("migrate", "--noinput", "-v", "0", env=env)
        setup = json.loads(manage("shell", "-c", SETUP % (UPLOADS + 2), env=env).strip().splitlines()[-1])
        headers = {"Authorization": f"Bearer {setup['access']}"}
        photos = [photo(seed) for seed in range(4)]
        print(f"{UPLOADS} photos of {len(photos[0]) / 1e6:.2f} MB each; gunicorn with {WEB_WORKERS} sync workers")
        with Topology(env=env, web_workers=WEB_WORKERS, proxy=False, daphne=False) as stack:
            base = stack.direct_web_url
            master = stack.processes["gunicorn"].pid
            client = httpx.Client(timeout=60)
            tasks = iter(setup["tasks"])

            steps: dict[str, float] = {"create": 0.0, "send to S3": 0.0, "complete": 0.0, "submit": 0.0}
            # Seconds a web worker spends on the direct path's requests (the S3 POST is not one of them).
            held = {"seconds": 0.0}

            def step(name: str, request):
                cpu, started = worker_cpu_seconds(master), time.perf_counter()
                response = request()
                if name != "send to S3":
                    held["seconds"] += time.perf_counter() - started
                steps[name] += worker_cpu_seconds(master) - cpu
                return response

            def direct(content: bytes) -> None:
                created = step(
                    "create",
                    lambda: client.post(
                        f"{base}/api/v1/uploads/",
                        json={"purpose": "proof", "content_type": "image/png", "size": len(content)},
                        headers=headers,
                    ),
                )
                target = created.json()
                sent = step(
                    "send to S3",
                    lambda: client.post(
                        target["url"], data=target["fields"], files={"file": ("p.png", content, "image/png")}
                    ),
                )
                done = step(
                    "complete",
                    lambda: client.post(f"{base}/api/v1/uploads/{target['id']}/complete/", headers=headers),
                )
                task = next(tasks)
                submitted = step(
                    "submit",
                    lambda: client.post(
                        f"{base}/api/v1/quests/{setup['quest']}/tasks/{task}/submissions/",
                        json={"upload": target["id"]},
                        headers=headers,
                    ),
                )
                statuses = (created.status_code, sent.status_code, done.status_code, submitted.status_code)
                if statuses != (201, 204, 200, 201):
                    raise RuntimeError(f"direct upload answered {statuses}: {submitted.text[:300]}")

            def through_web(content: bytes) -> None:
                response = client.put(
                    f"{base}/api/v1/users/me/avatar/", files={"file": ("p.png", content, "image/png")}, headers=headers
                )
                if response.status_code != 200:
                    raise RuntimeError(f"avatar upload answered {response.status_code}: {response.text[:300]}")

            for _ in range(WEB_WORKERS):  # warm both paths in each worker (imports, connections)
                direct(photos[0])
                through_web(photos[0])

            def through_web_slowly(content: bytes) -> float:
                """The multipart avatar sent at CLIENT_MBPS, as from a phone; the seconds the request took."""
                boundary = secrets.token_hex(16)
                body = (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n'
                    f"Content-Type: image/png\r\n\r\n".encode()
                    + content
                    + f"\r\n--{boundary}--\r\n".encode()
                )
                chunk = 64 * 1024

                def paced():
                    for offset in range(0, len(body), chunk):
                        yield body[offset : offset + chunk]
                        time.sleep(chunk / (CLIENT_MBPS * 1024 * 1024))

                started = time.perf_counter()
                response = client.put(
                    f"{base}/api/v1/users/me/avatar/",
                    content=paced(),
                    headers={
                        **headers,
                        "Content-Type": f"multipart/form-data; boundary={boundary}",
                        "Content-Length": str(len(body)),
                    },
                )
                if response.status_code != 200:
                    raise RuntimeError(f"slow avatar upload answered {response.status_code}: {response.text[:300]}")
                return time.perf_counter() - started

            for name, send in (("direct", direct), ("web", through_web)):
                steps.update(dict.fromkeys(steps, 0.0))
                held["seconds"] = 0.0
                cpu_before, wall_before = worker_cpu_seconds(master), time.perf_counter()
                for n in range(UPLOADS):
                    send(photos[n % len(photos)])
                wall = time.perf_counter() - wall_before
                time.sleep(0.3)  # let the workers' last accounting land
                cpu = worker_cpu_seconds(master) - cpu_before
                results[name] = {"cpu": cpu / UPLOADS, "wall": wall / UPLOADS}
                if name == "direct":
                    results["steps"] = {key: value / UPLOADS for key, value in steps.items()}
                    results["held"] = {"direct": held["seconds"] / UPLOADS}
            slow = [through_web_slowly(photos[n % len(photos)]) for n in range(SLOW_UPLOADS)]
            results["held"]["web"] = sum(slow) / len(slow)
            client.close()
    finally:
        moto.stop()
        if redis is not None:
            redis.stop()
        workdir.cleanup()
        admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    after = uptime()
    direct_cpu, web_cpu = results["direct"]["cpu"], results["web"]["cpu"]
    ratio = web_cpu / direct_cpu if direct_cpu else float("inf")
    print(f"load before: {before}\nload after:  {after}\n")
    print(f"{'path':<52} {'web CPU ms/upload':>18} {'wall ms/upload':>15}")
    for name, label in (
        ("direct", "direct (create, S3 POST, complete, submit)"),
        ("web", "through the web (multipart)"),
    ):
        print(f"{label:<52} {results[name]['cpu'] * 1000:>18.2f} {results[name]['wall'] * 1000:>15.1f}")
    print(
        "direct path, web CPU ms per upload by request: "
        + ", ".join(f"{key} {value * 1000:.2f}" for key, value in results["steps"].items())
    )
    verdict = "met" if ratio >= RATIO_TARGET else "MISSED"
    print(f"ratio {ratio:.1f}x: {verdict} (goal >= {RATIO_TARGET:.0f}x)")
    size = f"{UPLOADS} photos of {UPLOAD_MB:g} MB"
    print(
        f"BENCH web-process CPU per photo proof, direct to S3 (moto), {size} | "
        f"{direct_cpu * 1000:.2f} ms | multipart ÷ direct = {ratio:.1f}x; goal >= {RATIO_TARGET:.0f}x"
    )
    print(f"BENCH web-process CPU per photo, multipart avatar through gunicorn, {size} | {web_cpu * 1000:.2f} ms | -")
    held = results["held"]
    held_ratio = held["web"] / held["direct"]
    print(
        f"web worker held per photo: direct {held['direct'] * 1000:.1f} ms, multipart from a "
        f"{CLIENT_MBPS:g} MB/s client {held['web'] * 1000:.0f} ms ({held_ratio:.0f}x)"
    )
    print(
        f"BENCH web-worker time held per photo, direct vs multipart from a {CLIENT_MBPS:g} MB/s client | "
        f"{held['direct'] * 1000:.1f} ms vs {held['web'] * 1000:.0f} ms | {held_ratio:.0f}x less"
    )
    print(f"BENCH load average during bench/uploads.py | {after.split('load average:')[-1].strip()} | -")
    return 0


if __name__ == "__main__":
    sys.exit(main())
