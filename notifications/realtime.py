"""
The one way services push to WebSocket clients: after commit, to the
user's group. Push is a hint; clients re-read over REST, so a message the
channel layer drops (a group over capacity, or Redis being down) loses
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = structlog.get_logger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


async def _send_all(layer, messages: list[tuple[str, dict]]) -> int:
    if hasattr(layer, "group_send_many"):
        return await layer.group_send_many(messages)
    for group, message in messages:  # another layer (tests may configure one)
        await layer.group_send(group, message)
    return 0


def send_now(messages: list[tuple[str, dict]]) -> int:
    """
    Push ``(group, message)`` pairs now; return how many the layer refused.

    A refused push (a socket process's queue is full) is logged as a warning;
    the notification itself is stored, so the person still finds it in the
    REST inbox and a reconnecting client re-reads it. Never raises: the
    socket is a hint, and a Redis outage must not fail the caller.
    """
    layer = get_channel_layer()
    if layer is None or not messages:
        return 0
    try:
        # One event loop for the whole batch: channels-redis keeps its
        # connections per loop, so a loop per message would reconnect each time.
        refused = async_to_sync(_send_all)(layer, messages)
    except Exception as exc:  # the layer is best effort: never fail the caller's request
        logger.warning("realtime_push_failed", groups=len(messages), error=str(exc))
        return len(messages)
    if refused:
        logger.warning("realtime_push_refused", refused=refused, groups=len(messages))
    return refused


def publish_to_user(user_id: int, payload: dict) -> None:
    """Send ``payload`` to ``user_id``'s sockets once the current transaction commits."""
    publish_to_users([(user_id, payload)])


def publish_to_users(items: Iterable[tuple[int, dict]]) -> None:
    """Send each ``(user_id, payload)`` once the current transaction commits, in one batch."""
    messages = [(user_group(user_id), {"type": "push", "payload": payload}) for user_id, payload in items]
    if messages:
        transaction.on_commit(lambda: send_now(messages))


def publish_to_groups(items: Iterable[tuple[str, dict]], *, handler: str = "push") -> None:
    """
    Send each ``(group, payload)`` once the current transaction commits, in one batch.

    For groups other apps own (a live session's channel): the consumer's
    ``handler`` method (``push``: send ``payload`` as it is) relays it.
    """
    messages = [(group, {"type": handler, "payload": payload}) for group, payload in items]
    if messages:
        transaction.on_commit(lambda: send_now(messages))
