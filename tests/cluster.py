"""
The Kubernetes topology (deploy/k8s) rehearsed on one machine with real
processes: 2 gunicorn (``web``), 2 draining Daphne (``ws``, ``python -m
ibw.daphne``), one Celery worker per queue group (two for ``default``),
one beat, behind Caddy with deploy/Caddyfile.cluster routing ``/ws/`` to
the Daphnes and the rest to the gunicorns, each round robin with health
checks on ``/ready`` (what an Ingress and Services do).

PostgreSQL and Redis are the ones ``DATABASE_URL`` and ``REDIS_URL`` name.
The commands are those of the manifests. ``make cluster`` runs this module;
tests/test_cluster.py uses ``Cluster`` directly.
"""

from __future__ import annotations

import contextlib
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

from ibw.embedded import free_port

BASE_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKERS = {"critical": ["critical"], "default-a": ["default"], "default-b": ["default"], "low": ["low"]}


class Cluster:
    def __init__(self, *, env: dict[str, str], caddy: str = "caddy", web: int = 2, ws: int = 2) -> None:
        self.caddy = caddy
        self.workdir = Path(tempfile.mkdtemp(prefix="ibw-cluster-"))
        self.web_ports = {f"web-{i + 1}": free_port() for i in range(web)}
        self.ws_ports = {f"ws-{i + 1}": free_port() for i in range(ws)}
        self.proxy_port = free_port()
        self.env = {
            **env,
            "PYTHONUNBUFFERED": "1",
            "SECURE_SSL_REDIRECT": "false",
            "NUM_PROXIES": "1",
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
        self.processes: dict[str, subprocess.Popen] = {}

    # --- processes -------------------------------------------------------------------------

    def spawn(self, name: str, command: list[str], **extra_env: str) -> subprocess.Popen:
        # Each process its own metrics directory, as each pod has its own emptyDir.
        metrics = self.workdir / f"metrics-{name}"
        metrics.mkdir(exist_ok=True)
        extra_env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics))
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (the child process owns it)
        self.processes[name] = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.processes[name]

    def signal(self, name: str, sig: int) -> None:
        process = self.processes[name]
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)

    def wait(self, name: str, timeout: float = 30) -> int:
        return self.processes[name].wait(timeout=timeout)

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.stem}\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(self.workdir.glob("*.log"))
        )

    def start_web(self, name: str) -> None:
        self.spawn(
            name,
            [str(BIN / "gunicorn"), "-c", str(BASE_DIR / "gunicorn.conf.py"), "ibw.wsgi:application"],
            HOST="127.0.0.1",
            PORT=str(self.web_ports[name]),
            WEB_WORKERS="2",
            CONN_MAX_AGE="60",
        )

    def start_ws(self, name: str) -> None:
        self.spawn(
            name,
            [sys.executable, "-m", "ibw.daphne", "-b", "127.0.0.1", "-p", str(self.ws_ports[name])]
            + ["--proxy-headers", "--websocket_connect_timeout", "30", "ibw.asgi:application"],
            DB_POOL_MAX_SIZE="4",
            WS_DRAIN_DELAY_SECONDS="1",
            WS_DRAIN_GRACE_SECONDS="5",
        )

    def start_worker(self, name: str) -> None:
        self.spawn(
            f"worker-{name}",
            [str(BIN / "celery"), "-A", "ibw", "worker", "-n", f"{name}@%h", "--queues", ",".join(WORKERS[name])]
            + ["--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            DB_POOL_MAX_SIZE="2",
            LOG_LEVEL="INFO",
        )

    def start_beat(self, name: str = "beat") -> None:
        self.spawn(
            name,
            [str(BIN / "celery"), "-A", "ibw", "beat", "--loglevel", "INFO"]
            + ["--schedule", str(self.workdir / f"{name}-schedule")],
            LOG_LEVEL="INFO",
        )

    def start(self, timeout: float = 120) -> Cluster:
        for name in self.web_ports:
            self.start_web(name)
        for name in self.ws_ports:
            self.start_ws(name)
        for name in WORKERS:
            self.start_worker(name)
        self.start_beat()
        self.spawn(
            "caddy",
            [self.caddy, "run", "--config", str(BASE_DIR / "deploy" / "Caddyfile.cluster"), "--adapter", "caddyfile"],
            HOME=str(self.workdir),
            XDG_DATA_HOME=str(self.workdir / "caddy-data"),
            XDG_CONFIG_HOME=str(self.workdir / "caddy-config"),
            PROXY_PORT=str(self.proxy_port),
            HTTP_UPSTREAMS=" ".join(f"127.0.0.1:{port}" for port in self.web_ports.values()),
            WS_UPSTREAMS=" ".join(f"127.0.0.1:{port}" for port in self.ws_ports.values()),
        )
        deadline = time.monotonic() + timeout
        targets = [f"http://127.0.0.1:{port}/ready" for port in [*self.web_ports.values(), *self.ws_ports.values()]]
        for target in [*targets, f"{self.base_url}/ready"]:
            while not self._answers(target):
                dead = [name for name, p in self.processes.items() if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"cluster did not start ({target}; exited: {dead}):\n{self.logs()}")
                time.sleep(0.3)
        for name in WORKERS:
            while " ready." not in self.log(f"worker-{name}"):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"worker {name} did not start:\n{self.logs()}")
                time.sleep(0.3)
        return self

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.proxy_port}"

    def upstream_name(self, hostport: str) -> str:
        """``web-1`` … from Caddy's X-Upstream header (host:port)."""
        port = int(hostport.rsplit(":", 1)[1])
        return {v: k for k, v in {**self.web_ports, **self.ws_ports}.items()}[port]

    def open_sockets(self, name: str) -> int:
        """The open notification sockets a Daphne process reports on its own /metrics (METRICS_TOKEN)."""
        response = httpx.get(
            f"http://127.0.0.1:{self.ws_ports[name]}/metrics",
            headers={"Authorization": f"Bearer {self.env['METRICS_TOKEN']}"},
            timeout=5,
        )
        response.raise_for_status()
        found = re.search(r'^ibw_websocket_connections\{path="/ws/notifications/"\} (\S+)$', response.text, re.M)
        return int(float(found.group(1))) if found else 0

    def task_runs(self, task_name: str) -> int:
        """How many runs of ``task_name`` the workers logged as finished (Celery's INFO line)."""
        pattern = rf"Task {re.escape(task_name)}\[[^\]]+\] succeeded"
        return sum(len(re.findall(pattern, self.log(f"worker-{name}"))) for name in WORKERS)

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.signal(name, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.signal(name, signal.SIGKILL)
                process.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def main() -> None:
    """``make cluster``: migrate, start everything, print where it listens, run until Ctrl-C."""
    from tests.debian import ensure_binary  # installs Caddy from Debian when missing

    env = dict(os.environ)
    for key in ("DATABASE_URL", "REDIS_URL"):
        if not env.get(key):
            sys.exit(f"{key} must name the PostgreSQL / Redis the cluster shares (see README, Deploying).")
    env.setdefault("SECRET_KEY", "cluster-rehearsal-only-" + "x" * 32)
    env.setdefault("ADMIN_API_KEY", "cluster-admin-key")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=BASE_DIR, env=env, check=True)
    cluster = Cluster(env=env, caddy=ensure_binary("caddy", package="caddy"))
    cluster.start()
    print(f"IBW cluster rehearsal at {cluster.base_url} (WebSockets {cluster.ws_url}/ws/notifications/)")
    print(f"processes: {', '.join(cluster.processes)}; logs in {cluster.workdir}; Ctrl-C stops")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    main()
