"""Reads of the bot: which accepted updates still wait for handling."""

from __future__ import annotations

from datetime import datetime

from bot.models import ProcessedUpdate


def unhandled_update_ids(*, received_before: datetime, received_after: datetime) -> list[int]:
    """Return up to 500 ids of updates accepted in that window but never handled, oldest first."""
    return list(
        ProcessedUpdate.objects.filter(
            handled_at__isnull=True, received_at__lt=received_before, received_at__gt=received_after
        )
        .order_by("update_id")
        .values_list("update_id", flat=True)[:500]
    )
