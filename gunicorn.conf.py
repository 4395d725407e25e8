"""
gunicorn settings for the HTTP (REST) process of production: ``gunicorn
ibw.wsgi`` reads this file from the working directory. WebSockets are served
by Daphne; a reverse proxy routes ``/ws/`` there (see docker-compose.yml).

Every value comes from the environment so the same image scales up or down:
``WEB_WORKERS`` (default 2 × cores + 1), ``WEB_THREADS`` (1: sync workers),
``WEB_TIMEOUT`` seconds, ``HOST`` and ``PORT``.
"""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 (in a container)
workers = int(os.environ.get("WEB_WORKERS") or (2 * (os.cpu_count() or 1) + 1))
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Import the project once in the master, so a worker starts (or is replaced)
# in milliseconds by fork instead of a second or two of imports. Nothing
# connects at import time: database, cache and broker connections open on
# first use, in the worker.
preload_app = True
# Recycle workers now and then so a slow leak cannot grow without bound. A
# recycled worker used to cost 1-2 s of imports while its share of requests
# queued: at 2,000 req/s that was the whole p99 of /health in bench/.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "50000"))
max_requests_jitter = max_requests // 10
# The JSON access line comes from ibw.middleware (route, status, duration, request id).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Trust X-Forwarded-* only from the proxy in front (the compose network).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")


def on_starting(server):
    """Start metrics from zero: files of a previous run's workers would be added in."""
    from ibw.metrics import clear_own_directory  # the project only once the master starts

    clear_own_directory()


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the Prometheus multiprocess files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # only when metrics are on

        multiprocess.mark_process_dead(worker.pid)
