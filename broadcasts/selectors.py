"""Reads of broadcasts."""

from __future__ import annotations

from django.db.models import QuerySet

from broadcasts.models import Broadcast
from ibw.errors import NotFound


def broadcasts() -> QuerySet[Broadcast]:
    return Broadcast.objects.order_by("-created_at", "-id")


def access_broadcast(broadcast_id: int) -> Broadcast:
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is None:
        raise NotFound("Broadcast not found.")
    return broadcast
