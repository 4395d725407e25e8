"""
The one way services push to WebSocket clients: after commit, to the
user's group. Push is a hint; clients re-read over REST, so a message the
channel layer drops (a group over capacity, or Redis being down) loses
nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = structlog.get_logger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


# group_send costs a few Redis round trips; a broadcast batch sends this many at once.
_CONCURRENT_SENDS = 64


async def _send_all(layer, messages: list[tuple[str, dict]]) -> None:
    async def send(group: str, message: dict) -> None:
        try:
            await layer.group_send(group, message)
        except Exception as exc:  # the layer is best effort: never fail the caller
            logger.warning("realtime_push_failed", group=group, error=str(exc))

    for start in range(0, len(messages), _CONCURRENT_SENDS):
        await asyncio.gather(*(send(g, m) for g, m in messages[start : start + _CONCURRENT_SENDS]))


def _send(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if layer is None or not messages:
        return
    try:
        # One event loop for the whole batch: channels-redis keeps its
        # connections per loop, so a loop per message would reconnect each time.
        async_to_sync(_send_all)(layer, messages)
    except Exception as exc:  # the layer is best effort: never fail the caller's request
        logger.warning("realtime_push_failed", groups=len(messages), error=str(exc))


def publish_to_user(user_id: int, payload: dict) -> None:
    """Send ``payload`` to ``user_id``'s sockets once the current transaction commits."""
    publish_to_users([(user_id, payload)])


def publish_to_users(items: Iterable[tuple[int, dict]]) -> None:
    """Send each ``(user_id, payload)`` once the current transaction commits, in one batch."""
    messages = [(user_group(user_id), {"type": "push", "payload": payload}) for user_id, payload in items]
    if messages:
        transaction.on_commit(lambda: _send(messages))


def publish_to_groups(items: Iterable[tuple[str, dict]], *, handler: str = "push") -> None:
    """
    Send each ``(group, payload)`` once the current transaction commits, in one batch.

    For groups other apps own (a live session's channel): the consumer's
    ``handler`` method (``push``: send ``payload`` as it is) relays it.
    """
    messages = [(group, {"type": handler, "payload": payload}) for group, payload in items]
    if messages:
        transaction.on_commit(lambda: _send(messages))
