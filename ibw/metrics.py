"""
Prometheus metrics that processes record as they work: request latency by
route and status, Telegram sends by outcome, open WebSockets.

With ``PROMETHEUS_MULTIPROC_DIR`` set every process writes its values to
files there, and ``/metrics`` adds up the files of that directory and of
``PROMETHEUS_SCRAPE_DIRS`` (comma-separated): docker-compose gives web
(gunicorn workers), ws (Daphne) and worker (Celery) each a directory on one
shared volume, so one scrape of ``web`` sees sockets and Telegram sends too.
Each process group empties its own directory when it starts
(``clear_own_directory``). Without the variable (``make run``, tests)
values live in the process. Figures read at scrape time (Celery queue
depths, broadcast progress) are collected by ``/metrics`` itself
(``ibw.health``). Recording never raises: metrics must not break a request.
"""

from __future__ import annotations

import glob
import os

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

logger = structlog.get_logger(__name__)

REQUEST_DURATION = Histogram(
    "ibw_http_request_duration_seconds",
    "HTTP request latency by method, URL route (the pattern, not the path) and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TELEGRAM_SENDS = Counter(
    "ibw_telegram_sends_total",
    "Telegram sendMessage calls by outcome: sent, 429 (flood control), 403 (blocked), error.",
    ["outcome"],
)
# Every metric has labels: values (and, in multiprocess mode, their files) are
# then made on first use, never at import, before a process has cleared its directory.
WEBSOCKET_CONNECTIONS = Gauge(
    "ibw_websocket_connections",
    "Open, authenticated WebSockets by path.",
    ["path"],
    multiprocess_mode="livesum",
)
NOTIFICATIONS_SOCKET = "/ws/notifications/"

TELEGRAM_OUTCOMES = ("sent", "429", "403", "error")


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def observe_request(*, method: str, route: str, status: int, seconds: float) -> None:
    try:
        REQUEST_DURATION.labels(method=method, route=route, status=str(status)).observe(seconds)
    except Exception as exc:  # a metrics file problem is not the request's problem
        logger.warning("metrics_record_failed", metric="request", error=str(exc))


def record_telegram_send(outcome: str) -> None:
    """Count one Telegram send; ``outcome`` is one of ``TELEGRAM_OUTCOMES``."""
    try:
        TELEGRAM_SENDS.labels(outcome=outcome if outcome in TELEGRAM_OUTCOMES else "error").inc()
    except Exception as exc:
        logger.warning("metrics_record_failed", metric="telegram", error=str(exc))


def websocket_opened(path: str = NOTIFICATIONS_SOCKET) -> None:
    try:
        WEBSOCKET_CONNECTIONS.labels(path=path).inc()
    except Exception as exc:
        logger.warning("metrics_record_failed", metric="websocket", error=str(exc))


def websocket_closed(path: str = NOTIFICATIONS_SOCKET) -> None:
    try:
        WEBSOCKET_CONNECTIONS.labels(path=path).dec()
    except Exception as exc:
        logger.warning("metrics_record_failed", metric="websocket", error=str(exc))


def clear_own_directory() -> None:
    """
    Empty ``PROMETHEUS_MULTIPROC_DIR`` (creating it if needed). Call once when
    a process group starts (gunicorn master, Celery main process, Daphne),
    before any process records: files of a previous run would be added in.
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    for name in glob.glob(os.path.join(path, "*.db")):
        os.remove(name)


def scrape_dirs() -> list[str]:
    own = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    others = [d.strip() for d in os.environ.get("PROMETHEUS_SCRAPE_DIRS", "").split(",") if d.strip()]
    return list(dict.fromkeys([d for d in [own, *others] if d]))


class _MergedFiles:
    """Every process's metric files of the scraped directories, added up."""

    def collect(self):
        files = [f for directory in scrape_dirs() for f in glob.glob(os.path.join(directory, "*.db"))]
        return multiprocess.MultiProcessCollector.merge(files, accumulate=True)


def render_recorded() -> bytes:
    """The exposition text of the recorded metrics: every process's files, or this process's."""
    if multiprocess_enabled():
        registry = CollectorRegistry()
        registry.register(_MergedFiles())
        return generate_latest(registry)
    return generate_latest(REGISTRY)
