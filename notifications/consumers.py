"""
``/ws/notifications/?token=<access JWT>``: a user's notifications and
leaderboard changes, pushed as they are committed.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from notifications.realtime import user_group

CLOSE_UNAUTHENTICATED = 4401


@database_sync_to_async
def _user_id_for(raw_token: str) -> int | None:
    from users.models import User

    try:
        token = AccessToken(raw_token)
    except TokenError:
        return None
    user_id = token.get("user_id")
    if user_id is None or not User.objects.filter(pk=user_id, is_active=True).exists():
        return None
    return int(user_id)


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        raw = (query.get("token") or [""])[0]
        user_id = await _user_id_for(raw) if raw else None
        if user_id is None:
            # Accept first so the close code reaches the client (a close before
            # accept is an HTTP 403 with no code).
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def push(self, event: dict) -> None:
        await self.send_json(event["payload"])
