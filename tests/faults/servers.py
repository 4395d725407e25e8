"""
Throwaway servers for fault tests: a PostgreSQL cluster and a Redis, each on
its own free port with its own data directory under a temporary folder, so
stopping them never touches the shared 5432/6379 servers. Each cleans up
after itself. Plus ``LiveStack``: Daphne (and optionally a Celery worker) as
real processes against given database and Redis URLs.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from django.db import connection

from ibw.embedded import EmbeddedRedis, free_port

BASE_DIR = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def database_url() -> str:
    """The URL of the PostgreSQL test database, for processes that must share it."""
    settings = connection.settings_dict
    return (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )


class LocalPostgres:
    """A private PostgreSQL cluster (trust auth, user ``postgres``) on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ibw-pg-"))
        self.data = self.root / "data"
        self.bin = postgres_bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> LocalPostgres:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        # -l: without a log file the new postmaster would hold our captured stdout open.
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "restart",
        )

    def create_database(self, name: str) -> str:
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class LocalRedis(EmbeddedRedis):
    """A private Redis on a free port that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        super().__init__(free_port(), workdir=Path(tempfile.mkdtemp(prefix="ibw-redis-")))

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class LiveStack:
    """Daphne (and optionally a Celery worker) as real processes."""

    def __init__(self, *, database_url: str, redis_url: str, worker: bool = False, **extra_env: str) -> None:
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "CELERY_TASK_ALWAYS_EAGER"},
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            **extra_env,
        }
        self.worker = worker
        self.processes: list[subprocess.Popen] = []
        # Child output goes here, so a failing test can show what the processes said.
        self.log_dir = Path(tempfile.mkdtemp(prefix="ibw-stack-logs-"))

    def _log(self, name: str):
        return open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (the child process owns it)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.log_dir.glob("*.log"))

    def completed_runs(self, task_name: str) -> int:
        """How many runs of ``task_name`` the worker-with-beat has logged as finished (Celery's INFO line)."""
        log = self.log_dir / "worker-beat.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return len(re.findall(rf"Task {re.escape(task_name)}\[[^\]]+\] succeeded", text))

    def wait_for_runs(self, task_name: str, *, after: int, count: int = 1, timeout: float = 60) -> None:
        """
        Block until ``count`` more runs of ``task_name`` finished than ``after``.

        Tests that prove something does *not* happen wait on this (the sweep
        really ran) rather than on a fixed sleep, which a slow machine could
        make pass without the sweep ever running.
        """
        deadline = time.monotonic() + timeout
        while self.completed_runs(task_name) < after + count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{task_name} did not run {count} more time(s) in {timeout} s\n{self.logs()}")
            time.sleep(0.2)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def start(self) -> LiveStack:
        self.processes.append(
            subprocess.Popen(
                # The production launcher: Daphne that drains its sockets on SIGTERM.
                [sys.executable, "-m", "ibw.daphne", "-b", "127.0.0.1", "-p", str(self.port), "ibw.asgi:application"],
                cwd=BASE_DIR,
                env=self.env,
                stdout=self._log("daphne"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        if self.worker:
            self.processes.append(
                subprocess.Popen(
                    [str(BIN / "celery"), "-A", "ibw", "worker", "--concurrency", "2", "--loglevel", "WARNING"],
                    cwd=BASE_DIR,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("Daphne did not start")

    def kill(self) -> None:
        """SIGKILL every process: no shutdown, no acknowledgement, as when a machine dies."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        self.processes.clear()

    def start_worker(self, name: str, *, queues: str, concurrency: int = 1, timeout: float = 60) -> LiveStack:
        """A Celery worker for ``queues`` (comma-separated), as production runs one per queue group."""
        log_name = f"worker-{name}"
        self.processes.append(
            subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "ibw",
                    "worker",
                    "-n",
                    f"{name}@%h",
                    "--queues",
                    queues,
                    "--concurrency",
                    str(concurrency),
                    "--loglevel",
                    "INFO",
                ],
                cwd=BASE_DIR,
                env={**self.env, "LOG_LEVEL": "INFO"},
                stdout=self._log(log_name),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log = self.log_dir / f"{log_name}.log"
        deadline = time.monotonic() + timeout
        while " ready." not in (log.read_text(errors="replace") if log.exists() else ""):
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {name} did not start\n{self.logs()}")
            time.sleep(0.2)
        return self

    def start_worker_with_beat(self) -> LiveStack:
        """A Celery worker with an embedded beat (file scheduler), for tests that need the periodic sweeps."""
        schedule = Path(tempfile.mkdtemp(prefix="ibw-beat-")) / "schedule"
        self.processes.append(
            subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "ibw",
                    "worker",
                    "-B",
                    "--scheduler",
                    "celery.beat:PersistentScheduler",
                    "--schedule",
                    str(schedule),
                    "--concurrency",
                    "2",
                    "--loglevel",
                    "INFO",
                ],
                cwd=BASE_DIR,
                # INFO: Celery's "Task … succeeded" lines are how tests see that a sweep ran.
                env={**self.env, "LOG_LEVEL": "INFO"},
                stdout=self._log("worker-beat"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        return self

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()
