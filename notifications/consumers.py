"""
``/ws/notifications/?token=<access JWT>``: a user's notifications and
leaderboard changes, pushed as they are committed.

The consumer authenticates, joins the user's group (``user.<id>``) and
relays whatever ``publish_to_user`` sends there: ``{"type":
"notification", ...}`` and ``{"type": "leaderboard", ...}``. It never
writes models. A client may send ``{"type": "ping"}`` (or the text
``ping``) as a heartbeat and gets ``{"type": "pong"}``. Push is a hint:
after a reconnect a client re-reads ``GET /api/v1/notifications/``.

The socket is closed with 4401 when the access token that opened it
expires (the client reconnects with a fresh one), and with 1001 when the
process drains for a deploy (``ibw.daphne``).
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from ibw import metrics
from notifications.realtime import user_group
from users.models import User

logger = structlog.get_logger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_UNAVAILABLE = 1011


@database_sync_to_async
def _authenticate(raw_token: str) -> tuple[int, float] | None:
    """The active user's id and the token's expiry (epoch seconds), or None."""
    try:
        token = AccessToken(raw_token)
    except TokenError:
        return None
    user_id = token.get("user_id")
    if user_id is None or not User.objects.filter(pk=user_id, is_active=True).exists():
        return None
    return int(user_id), float(token["exp"])


class NotificationConsumer(AsyncWebsocketConsumer):
    group: str | None = None
    expiry: asyncio.TimerHandle | None = None

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        raw = (query.get("token") or [""])[0]
        identity = await _authenticate(raw) if raw else None
        if identity is None:
            # Accept first so the close code reaches the client (a close before
            # accept is an HTTP 403 with no code).
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        user_id, expires_at = identity
        group = user_group(user_id)
        try:
            # Join before accepting: once the client sees the socket open, nothing published can miss it.
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception as exc:  # Redis down: tell the client to retry rather than sit on a dead socket
            logger.warning("ws_group_add_failed", error=str(exc))
            await self.accept()
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        self.group = group
        await self.accept()
        metrics.websocket_opened()
        # The stream lives only as long as the token that opened it (contract v1.1):
        # a stolen or stale token does not keep a socket open forever.
        loop = asyncio.get_running_loop()
        self.expiry = loop.call_later(max(0.0, expires_at - time.time()), self._token_expired)

    def _token_expired(self) -> None:
        self.expiry = None
        asyncio.ensure_future(self.close(code=CLOSE_UNAUTHENTICATED))

    async def disconnect(self, code: int) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        if self.group:
            metrics.websocket_closed()
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception as exc:  # the membership expires with the layer's group_expiry anyway
                logger.warning("ws_group_discard_failed", error=str(exc))
            self.group = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or self.group is None:
            return
        if text_data.strip() == "ping":
            await self.send(text_data=json.dumps({"type": "pong"}))
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            return
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send(text_data=json.dumps({"type": "pong"}))

    async def push(self, event: dict) -> None:
        await self.send(text_data=json.dumps(event["payload"], separators=(",", ":")))

    async def account_erased(self, event: dict) -> None:
        """The person erased their account (``privacy``): close as if the token had expired."""
        await self.close(code=CLOSE_UNAUTHENTICATED)
