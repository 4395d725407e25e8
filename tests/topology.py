"""
The production topology as local processes, for slow tests and benchmarks:
gunicorn (``ibw.wsgi``, ``gunicorn.conf.py``) for HTTP, Daphne
(``ibw.asgi``) for WebSockets, and in front of both Caddy with the very
``deploy/Caddyfile`` that docker-compose ships, when the ``caddy`` binary is
installed (Debian: ``apt-get install caddy``). Without Caddy, ``base_url`` is
gunicorn's and ``ws_url`` Daphne's, and ``proxied`` says so.

Nothing here imports Django: callers pass the environment (database, Redis,
settings) the processes should see.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ibw.embedded import free_port

BASE_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class Topology:
    """gunicorn + Daphne (+ Caddy routing ``/ws/`` to Daphne and the rest to gunicorn)."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        web_workers: int = 2,
        proxy: bool = True,
        daphne: bool = True,
        ws_env: dict[str, str] | None = None,
        **extra_env: str,
    ) -> None:
        self.web_port = free_port()
        self.ws_port = free_port()
        self.proxy_port = free_port()
        self.caddy = shutil.which("caddy") if proxy else None
        self.want_daphne = daphne
        self.workdir = Path(tempfile.mkdtemp(prefix="ibw-topology-"))
        # As in docker-compose: a metrics directory per process kind, all read by gunicorn's /metrics.
        self.metrics_dir = self.workdir / "prometheus"
        self.ws_metrics_dir = self.workdir / "prometheus-ws"
        self.env = {
            **env,
            "WEB_WORKERS": str(web_workers),
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "PROMETHEUS_SCRAPE_DIRS": str(self.ws_metrics_dir),
            "PYTHONUNBUFFERED": "1",
            # Behind Caddy the client address is the last X-Forwarded-For entry.
            "NUM_PROXIES": "1" if self.caddy else "0",
            **extra_env,
        }
        # Daphne only (e.g. DB_POOL_MAX_SIZE: the ASGI process takes a pool, gunicorn does not).
        self.ws_env = ws_env or {}
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def proxied(self) -> bool:
        return self.caddy is not None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port if self.proxied else self.web_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.proxy_port if self.proxied else self.ws_port}"

    @property
    def direct_web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (the child process owns it)
        self.processes[name] = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.workdir.glob("*.log"))
        )

    def start(self, timeout: float = 60) -> Topology:
        self._spawn(
            "gunicorn",
            [str(BIN / "gunicorn"), "-c", str(BASE_DIR / "gunicorn.conf.py"), "ibw.wsgi:application"],
            {**self.env, "HOST": "127.0.0.1", "PORT": str(self.web_port)},
        )
        if self.want_daphne:
            self._spawn(
                "daphne",
                [
                    str(BIN / "daphne"),
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.ws_port),
                    "--websocket_connect_timeout",
                    "30",
                    "ibw.asgi:application",
                ],
                {**self.env, "PROMETHEUS_MULTIPROC_DIR": str(self.ws_metrics_dir), **self.ws_env},
            )
        if self.caddy:
            self._spawn(
                "caddy",
                [self.caddy, "run", "--config", str(BASE_DIR / "deploy" / "Caddyfile"), "--adapter", "caddyfile"],
                {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": str(self.workdir),
                    "XDG_DATA_HOME": str(self.workdir / "caddy-data"),
                    "XDG_CONFIG_HOME": str(self.workdir / "caddy-config"),
                    "SITE_ADDRESS": f":{self.proxy_port}",
                    "HTTP_UPSTREAM": f"127.0.0.1:{self.web_port}",
                    "WS_UPSTREAM": f"127.0.0.1:{self.ws_port}",
                    "HEALTH_PORT": str(free_port()),
                },
            )
        deadline = time.monotonic() + timeout
        targets = [self.base_url, self.direct_web_url]
        if self.want_daphne:
            targets.append(f"http://127.0.0.1:{self.ws_port}")
        for target in targets:
            while True:
                dead = [name for name, p in self.processes.items() if p.poll() is not None]
                if dead:
                    self.stop()
                    raise RuntimeError(f"{', '.join(dead)} exited early:\n{self.logs()}")
                try:
                    if httpx.get(f"{target}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{target} did not answer /health in time:\n{self.logs()}")
                time.sleep(0.2)
        return self

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
