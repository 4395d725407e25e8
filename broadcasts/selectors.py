"""Reads of broadcasts."""

from __future__ import annotations

from collections.abc import Collection

from django.db.models import Count, Q, QuerySet

from broadcasts.models import Broadcast, BroadcastStatus
from ibw.errors import NotFound
from notifications.models import BLOCKED_ERROR_PREFIX, Channel, DeliveryState


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


def delivery_outcomes(conference_slug: str, *, limit: int = 12) -> list[dict]:
    """
    The latest ``limit`` broadcasts to a conference's audience, newest first,
    with their deliveries counted by outcome (one query): ``title``,
    ``status``, ``created_at``, ``sent_in_app``, ``sent_telegram``,
    ``blocked`` (Telegram refused: the person blocked the bot), ``failed``
    (other failures), ``waiting`` (pending or sending).
    """
    failed = Q(deliveries__state=DeliveryState.FAILED)
    blocked = failed & Q(deliveries__error__startswith=BLOCKED_ERROR_PREFIX)
    sent = Q(deliveries__state=DeliveryState.SENT)
    rows = (
        Broadcast.objects.filter(audience__conference=conference_slug)
        .annotate(
            sent_in_app=Count("deliveries", filter=sent & Q(deliveries__channel=Channel.IN_APP)),
            sent_telegram=Count("deliveries", filter=sent & Q(deliveries__channel=Channel.TELEGRAM)),
            blocked=Count("deliveries", filter=blocked),
            failed_other=Count("deliveries", filter=failed & ~blocked),
            waiting=Count("deliveries", filter=Q(deliveries__state__in=[DeliveryState.PENDING, DeliveryState.SENDING])),
        )
        .order_by("-created_at", "-id")
        .values("title", "status", "created_at", "sent_in_app", "sent_telegram", "blocked", "failed_other", "waiting")
    )
    return [
        {
            "title": row["title"],
            "status": BroadcastStatus(row["status"]).label,
            "created_at": row["created_at"],
            "sent_in_app": row["sent_in_app"],
            "sent_telegram": row["sent_telegram"],
            "failed": row["failed_other"],
            "blocked": row["blocked"],
            "waiting": row["waiting"],
        }
        for row in rows[:limit]
    ]
