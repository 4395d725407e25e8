"""Reads of broadcasts."""

from __future__ import annotations

from collections.abc import Collection

from django.db.models import Count, QuerySet

from broadcasts.models import Broadcast, BroadcastStatus
from ibw.errors import NotFound


def broadcasts(*, conference_slugs: Collection[str] | None = None) -> QuerySet[Broadcast]:
    """Newest first; ``conference_slugs`` keeps those whose audience is one of these conferences (co-organizers)."""
    rows = Broadcast.objects.order_by("-created_at", "-id")
    if conference_slugs is not None:
        rows = rows.filter(audience__conference__in=list(conference_slugs))
    return rows


def access_broadcast(broadcast_id: int) -> Broadcast:
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is None:
        raise NotFound("Broadcast not found.")
    return broadcast


def broadcast_counts_by_status() -> dict[str, int]:
    """How many broadcasts are in each status (one query; for /metrics)."""
    rows = Broadcast.objects.values("status").annotate(n=Count("id")).order_by("status")
    return {row["status"]: row["n"] for row in rows}


def active_broadcast_progress(*, limit: int = 100) -> list[tuple[int, int, int, int]]:
    """``(id, total, sent, failed)`` of the queued and sending broadcasts, oldest first (for /metrics)."""
    active = Broadcast.objects.filter(status__in=[BroadcastStatus.QUEUED, BroadcastStatus.SENDING]).order_by("id")
    return list(active.values_list("id", "total", "sent", "failed")[:limit])
