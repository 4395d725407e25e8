"""
``make run``: the whole stack in the foreground.

Starts the embedded Redis when ``REDIS_URL`` is unset, migrates, loads the
demo conference, then runs Daphne (HTTP + WebSocket), a Celery worker and
Celery beat. Ctrl-C or SIGTERM stops every child; if one dies, the rest are
stopped too and the exit code says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


# The demo attendee whose token ``make run`` prints (``manage.py issue_token``).
DEMO_ATTENDEE_TELEGRAM_ID = "1000001"


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def _manage_output(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True, capture_output=True, text=True
    ).stdout


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "8000")
    if host in ("127.0.0.1", "localhost", "::1"):
        # Plain HTTP on loopback: nothing to redirect to. Behind a TLS proxy, bind
        # elsewhere (HOST=0.0.0.0) and the production default (redirect) applies.
        env.setdefault("SECURE_SSL_REDIRECT", "false")

    redis_server = None
    if not env.get("REDIS_URL"):
        # Only when no REDIS_URL is given: the embedded server's package is a development convenience.
        from ibw.embedded import EmbeddedRedis, port_is_free

        redis_port = int(env.get("EMBEDDED_REDIS_PORT", "6390"))
        if not port_is_free(redis_port):
            print(f"Port {redis_port} is taken: set EMBEDDED_REDIS_PORT or REDIS_URL.", file=sys.stderr)
            return 1
        redis_server = EmbeddedRedis(redis_port, workdir=BASE_DIR / ".run" / "redis").start()
        env["REDIS_URL"] = redis_server.url
        print(f"Embedded Redis on {redis_server.url}", flush=True)

    children: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)

    exit_code = 0
    try:
        _manage("migrate", "--noinput", env=env)
        _manage("collectstatic", "--noinput", "--verbosity", "0", env=env)
        _manage("seed_demo", env=env)
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104 (a comparison, not a bind)
        demo_token = _manage_output(
            "issue_token", DEMO_ATTENDEE_TELEGRAM_ID, "--create", "--base-url", f"http://{shown}:{port}", env=env
        )
        commands = {
            # A handshake burst (everyone opening the app at once) needs more than Daphne's 5 s default.
            "web": [
                sys.executable,
                "-m",
                "ibw.daphne",
                "-b",
                host,
                "-p",
                port,
                "--proxy-headers",
                "--websocket_connect_timeout",
                "30",
                "ibw.asgi:application",
            ],
            "worker": [
                str(BIN / "celery"),
                "-A",
                "ibw",
                "worker",
                # One worker for every queue, critical first (production runs one per group).
                "--queues",
                "critical,default,low",
                "--loglevel",
                "INFO",
                "--concurrency",
                env.get("WORKER_CONCURRENCY", "2"),
            ],
            "beat": [
                str(BIN / "celery"),
                "-A",
                "ibw",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(BASE_DIR / ".run" / "celerybeat-schedule"),
            ],
        }
        for name, command in commands.items():
            # Own process groups: a terminal's Ctrl-C reaches us, and we stop
            # the children in order rather than all at once.
            children.append((name, subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True)))
        print(
            f"\nIBW is running:\n  API    http://{shown}:{port}/api/v1/\n  Docs   http://{shown}:{port}/api/docs/\n"
            f"  Admin  http://{shown}:{port}/admin/\n  Health http://{shown}:{port}/ready\n"
            f"\nThe demo attendee's tokens (python manage.py issue_token {DEMO_ATTENDEE_TELEGRAM_ID} for new ones):\n"
            f"{demo_token}\nPress Ctrl-C to stop.\n",
            flush=True,
        )
        while not stopping:
            for name, child in children:
                if child.poll() is not None:
                    print(f"{name} exited with {child.returncode}; stopping the rest.", file=sys.stderr)
                    exit_code = child.returncode or 1
                    stopping = True
            time.sleep(0.3)
    except subprocess.CalledProcessError as exc:
        exit_code = exc.returncode or 1
    finally:
        for _, child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if redis_server:
            redis_server.stop()
        print("Stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
