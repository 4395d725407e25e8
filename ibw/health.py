"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import hmac
from concurrent.futures import ThreadPoolExecutor

import redis
import structlog
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from broadcasts.selectors import active_broadcast_progress, broadcast_counts_by_status
from ibw import metrics as ibw_metrics
from ibw.draining import is_draining
from ibw.errors import error_body
from integrations.selectors import integration_statuses

logger = structlog.get_logger(__name__)


@extend_schema(responses=inline_serializer("Health", {"status": serializers.CharField()}), tags=["health"])
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([])
def health(request):
    """The process is alive."""
    return Response({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _check_channel_layer() -> str:
    async def roundtrip() -> None:
        # A layer instance of its own: the process-wide one is already receiving
        # for this process's sockets on Daphne's loop, and a channel layer
        # receives on one event loop at a time.
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        try:
            channel = await layer.new_channel()
            await layer.send(channel, {"type": "ready.check"})
            await asyncio.wait_for(layer.receive(channel), timeout=2)
        finally:
            await layer.close_pools()

    # A fresh loop in a thread of its own: this view may be called where a loop runs.
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, asyncio.wait_for(roundtrip(), timeout=3)).result()
    return "ok"


_CHECKS = {"database": _check_database, "redis": _check_redis, "channel_layer": _check_channel_layer}


@extend_schema(
    responses={
        200: inline_serializer("Ready", {"status": serializers.CharField(), "checks": serializers.DictField()}),
        503: inline_serializer("NotReady", {"status": serializers.CharField(), "checks": serializers.DictField()}),
    },
    tags=["health"],
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([])
def ready(request):
    """Each dependency answers; integrations without a key say ``disabled``."""
    if is_draining():
        # Shutting down (SIGTERM): take no new traffic, whatever the dependencies say.
        return Response({"status": "draining", "checks": {"process": "draining"}}, status=503)
    checks: dict[str, str] = {}
    healthy = True
    for name, check in _CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # any failure of the dependency, reported by name
            healthy = False
            checks[name] = f"error: {type(exc).__name__}"
            logger.warning("ready_check_failed", check=name, error=repr(exc))
    checks.update(integration_statuses())
    return Response({"status": "ready" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503)


# --- /metrics ---------------------------------------------------------------------


def _celery_queues() -> list[str]:
    """The queues workers consume (``CELERY_TASK_QUEUES``)."""
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


class ScrapeTimeCollector:
    """Figures read when Prometheus scrapes: Celery queue depths (Redis LLEN) and broadcast progress."""

    def collect(self):
        depth = GaugeMetricFamily("ibw_celery_queue_length", "Tasks waiting in each Celery queue.", labels=["queue"])
        try:
            client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
            try:
                for queue in _celery_queues():
                    depth.add_metric([queue], client.llen(queue))
            finally:
                client.close()
        except redis.RedisError as exc:
            logger.warning("metrics_queue_depth_unavailable", error=str(exc))
        yield depth

        by_status = GaugeMetricFamily("ibw_broadcasts", "Broadcasts by status.", labels=["status"])
        progress = GaugeMetricFamily(
            "ibw_broadcast_recipients",
            "Deliveries of each queued or sending broadcast: total, sent, failed.",
            labels=["broadcast", "state"],
        )
        try:
            for status, count in broadcast_counts_by_status().items():
                by_status.add_metric([status], count)
            for broadcast_id, total, sent, failed in active_broadcast_progress():
                for state, value in (("total", total), ("sent", sent), ("failed", failed)):
                    progress.add_metric([str(broadcast_id), state], value)
        except DatabaseError as exc:
            logger.warning("metrics_broadcasts_unavailable", error=str(exc))
        yield by_status
        yield progress


def metrics(request):
    """
    Prometheus exposition: what this process (or every gunicorn worker) has
    recorded plus the scrape-time figures. Only for ``Authorization: Bearer
    <METRICS_TOKEN>``; otherwise (or with no token configured) a 404, as if
    the path did not exist.
    """
    expected = settings.METRICS_TOKEN
    supplied = request.headers.get("Authorization", "")
    if not expected or not hmac.compare_digest(supplied.encode(), f"Bearer {expected}".encode()):
        return JsonResponse(error_body("Not found.", "NOT_FOUND"), status=404)
    scrape = CollectorRegistry()
    scrape.register(ScrapeTimeCollector())
    body = ibw_metrics.render_recorded() + generate_latest(scrape)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
