"""
The one way services push to WebSocket clients: after commit, to the
user's group. Push is a hint; clients re-read over REST, so a message the
channel layer drops (or Redis being down) loses nothing.
"""

from __future__ import annotations

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = structlog.get_logger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception as exc:  # the layer is best effort: never fail the caller's request
        logger.warning("realtime_push_failed", group=group, error=str(exc))


def publish_to_user(user_id: int, payload: dict) -> None:
    """Send ``payload`` to ``user_id``'s sockets once the current transaction commits."""
    message = {"type": "push", "payload": payload}
    transaction.on_commit(lambda: _send(user_group(user_id), message))
