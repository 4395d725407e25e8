"""
What several benchmark scripts share: the PostgreSQL database each makes and
drops on ``DATABASE_URL``'s server, ``manage.py`` runs, a free port, waiting
for a server's ``/health``, wrk, percentiles and the machine's load.

Not a benchmark itself (``run_all.py`` skips it). Standard library only at
import time, so a script imports it before setting Django up; the scripts
run as ``python bench/<name>.py``, which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def db_url(base: str, name: str) -> str:
    """``base`` (a database URL) naming the database ``name`` instead."""
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def database_urls(db_name: str, script: str) -> tuple[str, str]:
    """
    The ``postgres`` maintenance database's URL and ``db_name``'s on the
    server ``DATABASE_URL`` names (default: the local one); ``script``
    (its ``__file__``) exits when that is not PostgreSQL.
    """
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not urlsplit(base).scheme.startswith("postgres"):
        sys.exit(f"bench/{Path(script).name} needs a PostgreSQL DATABASE_URL")
    return db_url(base, "postgres"), db_url(base, db_name)


def admin_sql(admin_url: str, sql: str) -> None:
    """Run ``sql`` outside a transaction (CREATE / DROP DATABASE) on ``admin_url``."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)


# The throttles still run (one Redis round trip each), but never refuse the benchmark.
THROTTLES_OUT_OF_THE_WAY = {"THROTTLE_ANON": "100000000/min", "THROTTLE_USER": "100000000/min"}


def production_env(database_url: str, **overrides: str) -> dict[str, str]:
    """Settings for a server process run as in production (``DEBUG`` off, persistent connections) on ``database_url``."""
    return {
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def start_redis_unless_given(env: dict[str, str], workdir: str):
    """An embedded Redis (``ibw.embedded``) when ``env`` has no ``REDIS_URL``, which it then names; stop it after."""
    if env.get("REDIS_URL"):
        return None
    sys.path.insert(0, str(ROOT))
    from ibw.embedded import EmbeddedRedis, free_port

    redis = EmbeddedRedis(free_port(), workdir=Path(workdir) / "redis").start()
    env["REDIS_URL"] = redis.url
    return redis


def manage(*args: str, env: dict[str, str], timeout: float = 600) -> str:
    """``manage.py <args>`` in a child process; its standard output."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=timeout
    )
    return result.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_until_up(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait for ``base``/health to answer 200 while the Daphne ``process`` runs."""
    import asyncio

    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited with {process.returncode}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("daphne did not answer /health in time")


def ensure_wrk() -> str:
    """The wrk binary; Debian's package is installed when it is missing (needs root and the archive)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is not installed: apt-get install -y wrk", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, capture_output=True, timeout=600)
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk could not be installed")
    return found


def percentile(values: list[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100) of ``values``, nearest rank on the sorted values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]
