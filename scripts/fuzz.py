"""
``make fuzz``: schemathesis over ``/api/schema/`` against a live Daphne on
PostgreSQL and Redis, once as a logged-in user and once with the admin key.

Checks: no server errors, responses match their schema, no status code the
schema does not declare, correct content types. ``--max-examples`` sets the
depth (CI runs a short version). Prints each run's summary and a total; exits
non-zero on any failure.

    python scripts/fuzz.py [--max-examples 40] [--database-url ...] [--redis-url ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from ibw.embedded import free_port  # noqa: E402 (needs the project on sys.path)
from tests.fakes.oidc import FakeOidcIssuer  # noqa: E402 (likewise)
from tests.fakes.telegram import FakeTelegram  # noqa: E402 (likewise)

PYTHON = sys.executable
BIN = Path(PYTHON).parent
ADMIN_KEY = "fuzz-admin-key-0123456789"
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"

_SETUP_USER = """
import json
from conferences.models import Attendance, Conference
from users.models import User
from users.services import issue_tokens
user, _ = User.objects.get_or_create(telegram_id=424242, defaults={"username": "fuzzer", "first_name": "Fuzz",
                                                                 "directory_visible": True})
conference = Conference.objects.filter(slug="ibw-demo").first()
if conference:
    Attendance.objects.get_or_create(conference=conference, user=user)
print("TOKEN=" + json.dumps(issue_tokens(user)))
"""


def _recreate_database(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql", "pgsql"):
        return
    import psycopg

    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own loopback server)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=40)
    parser.add_argument(
        "--database-url", default=os.environ.get("FUZZ_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ibw_fuzz")
    )
    parser.add_argument("--redis-url", default=os.environ.get("FUZZ_REDIS_URL", "redis://127.0.0.1:6379/9"))
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument(
        "--phases",
        default="examples,coverage,fuzzing",
        help="schemathesis phases; CI runs only 'fuzzing' for a short pass",
    )
    args = parser.parse_args()

    # Telegram's OpenID Connect issuer is an outside service: a local fake answers
    # discovery and JWKS, so GET /auth/telegram/oidc/ has something to describe.
    # The Telegram Bot API likewise: a local fake answers (a chat it does not
    # know is "chat not found", so linking one is a 400, as with Telegram).
    issuer = FakeOidcIssuer().start()
    bot_api = FakeTelegram().start()
    try:
        return _fuzz(args, issuer, bot_api)
    finally:
        bot_api.stop()
        issuer.stop()


def _fuzz(args: argparse.Namespace, issuer: FakeOidcIssuer, bot_api: FakeTelegram) -> int:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "fuzz-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "ADMIN_API_KEY": ADMIN_KEY,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "THROTTLE_ANON": "1000000/min",
        "THROTTLE_USER": "1000000/min",
        "THROTTLE_LOGIN": "1000000/min",
        "JWT_ACCESS_MINUTES": "240",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        # Login endpoints verify signatures with this token; Bot API calls go to the local fake.
        "TELEGRAM_BOT_TOKEN": "123:fuzz-token",
        "TELEGRAM_API_BASE_URL": bot_api.base_url,
        "TELEGRAM_OIDC_ISSUER": issuer.url,
        "TELEGRAM_OIDC_CLIENT_SECRET": issuer.client_secret,
        "LOG_LEVEL": "ERROR",
        "MEDIA_ROOT": str(BASE_DIR / ".run" / "fuzz-media"),
    }
    env.pop("IBW_TESTING", None)
    _recreate_database(args.database_url)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"], ["seed_demo"]):
        subprocess.run([PYTHON, "manage.py", *command], cwd=BASE_DIR, env=env, check=True, capture_output=True)
    shell = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", _SETUP_USER],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    tokens = json.loads(shell.stdout.split("TOKEN=", 1)[1])

    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "ibw.asgi:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    total_cases = 0
    failed = False
    try:
        _wait_for(f"http://127.0.0.1:{port}/health")
        for label, header in (
            ("user", f"Authorization: Bearer {tokens['access']}"),
            ("admin", f"X-Admin-Key: {ADMIN_KEY}"),
        ):
            print(f"\n=== schemathesis as {label} ===", flush=True)
            run = subprocess.run(
                [
                    str(BIN / "st"),
                    "run",
                    f"http://127.0.0.1:{port}/api/schema/",
                    "--checks",
                    CHECKS,
                    "-H",
                    header,
                    "--max-examples",
                    str(args.max_examples),
                    "--seed",
                    str(args.seed),
                    "--workers",
                    "2",
                    "--phases",
                    args.phases,
                    "--no-color",
                    "--suppress-health-check",
                    "all",
                    "--request-timeout",
                    "20",
                    "--generation-database",
                    "none",
                    # Erasing the fuzzing user would leave every later case a 401 (tests/privacy cover it).
                    "--exclude-operation-id",
                    "api_v1_users_me_destroy",
                ],
                cwd=BASE_DIR,
                env=env,
                capture_output=True,
                text=True,
            )
            log = BASE_DIR / ".run" / f"fuzz-{label}.log"
            log.write_text(run.stdout + run.stderr)
            summary = (
                run.stdout[run.stdout.rfind("= SUMMARY =") :] if "= SUMMARY =" in run.stdout else run.stdout[-3000:]
            )
            print(summary, f"(full output: {log.relative_to(BASE_DIR)})", flush=True)
            if run.returncode != 0:
                failed = True
                print(run.stderr[-2000:], file=sys.stderr)
            match = re.search(r"Test cases:\s*([\d,]+)\s+generated", run.stdout)
            total_cases += int(match.group(1).replace(",", "")) if match else 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    print(f"\nFuzz total: {total_cases} generated test cases; {'FAILURES' if failed else 'no failures'}.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
