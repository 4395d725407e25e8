"""
``/ws/sessions/<id>/?token=<access JWT>``: a live session's channel.

The consumer authenticates, joins ``live.session.<id>``, counts itself into
the session's presence (``live.realtime``) and relays what services publish
there: ``{"type": "question", ...}``, ``{"type": "poll", ...}`` and
``{"type": "presence", "count": n}``. It never writes models. Hidden
questions reach moderators whole; everyone else gets only ``{"id",
"status": "hidden"}`` so their screen can drop it. Messages carry no
``my_vote`` (they go to everyone); a client keeps its own, and re-reads
over REST after a reconnect.

Bad or missing token → accept, then close 4401 (a close before accept is an
HTTP 403 with no code); an unknown session → 4404. The socket closes 4401
when its token expires, like the notification socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from urllib.parse import parse_qs

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from conferences.models import Session
from live import realtime
from live.moderators import may_moderate
from users.models import User

logger = structlog.get_logger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_UNAVAILABLE = 1011
# At most 2 vote updates a second reach one socket, whatever happened upstream.
VOTE_GAP_SECONDS = 0.5


@database_sync_to_async
def _authenticate(raw_token: str, session_id: int) -> tuple[int, float, bool | None] | None:
    """The active user's id, the token's expiry and whether they moderate the session (None: no such session)."""
    try:
        token = AccessToken(raw_token)
    except TokenError:
        return None
    user_id = token.get("user_id")
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id is not None else None
    if user is None:
        return None
    session = Session.objects.select_related("conference").filter(pk=session_id).first()
    moderator = None if session is None else may_moderate(session, user=user)
    return user.pk, float(token["exp"]), moderator


class LiveSessionConsumer(AsyncWebsocketConsumer):
    group: str | None = None
    session_id: int = 0
    user_id: int = 0
    is_moderator: bool = False
    expiry: asyncio.TimerHandle | None = None
    heartbeat: asyncio.Task | None = None
    vote_sender: asyncio.Future | None = None
    last_vote_sent: float = float("-inf")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.held: dict[tuple[str, int | None], dict] = {}

    async def connect(self) -> None:
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        query = parse_qs(self.scope.get("query_string", b"").decode())
        raw = (query.get("token") or [""])[0]
        identity = await _authenticate(raw, self.session_id) if raw else None
        if identity is None:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id, expires_at, moderator = identity
        if moderator is None:
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.is_moderator = moderator
        group = realtime.session_group(self.session_id)
        try:
            # Join before accepting: once the client sees the socket open, nothing published can miss it.
            await self.channel_layer.group_add(group, self.channel_name)
            self.group = group
            last_count = await realtime.presence_join(
                self.session_id, user_id=self.user_id, channel_name=self.channel_name
            )
        except Exception as exc:  # Redis down: tell the client to retry rather than sit on a dead socket
            logger.warning("live_ws_join_failed", error=str(exc))
            await self.accept()
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        await self.accept()
        if last_count is not None:
            await self.send(text_data=json.dumps({"type": "presence", "count": last_count}))
        loop = asyncio.get_running_loop()
        self.expiry = loop.call_later(max(0.0, expires_at - time.time()), self._token_expired)
        self.heartbeat = asyncio.ensure_future(self._beat())

    def _token_expired(self) -> None:
        self.expiry = None
        asyncio.ensure_future(self.close(code=CLOSE_UNAUTHENTICATED))

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(realtime.heartbeat_seconds())
            try:
                await realtime.presence_heartbeat(self.session_id, user_id=self.user_id, channel_name=self.channel_name)
            except Exception as exc:  # a missed beat only ages this socket; the next one re-adds it
                logger.warning("live_presence_heartbeat_failed", error=str(exc))

    async def disconnect(self, code: int) -> None:
        if self.vote_sender is not None:
            self.vote_sender.cancel()
            self.vote_sender = None
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        if self.heartbeat is not None:
            self.heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.heartbeat
            self.heartbeat = None
        if self.group:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
                await realtime.presence_leave(self.session_id, user_id=self.user_id, channel_name=self.channel_name)
            except Exception as exc:  # the member ages out of presence within the TTL anyway
                logger.warning("live_ws_leave_failed", error=str(exc))
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

    def _visible(self, payload: dict) -> dict:
        if payload.get("type") == "question" and not self.is_moderator:
            question = payload["question"]
            if question.get("status") == "hidden":
                return {"type": "question", "question": {"id": question["id"], "status": "hidden"}}
        return payload

    async def push(self, event: dict) -> None:
        await self.send(text_data=json.dumps(self._visible(event["payload"]), separators=(",", ":")))

    async def live_votes(self, event: dict) -> None:
        """
        A coalesced vote count. The session's flusher already sends these at
        most every 0.6 s; this socket's sender also spaces them at least
        ``VOTE_GAP_SECONDS`` apart, measured from when each send finished, so a
        burst after a stall (this process's loop was busy, the channel layer
        slow) is held and only the newest count per question or poll goes out.
        """
        payload = self._visible(event["payload"])
        key = (payload["type"], (payload.get("question") or payload.get("poll") or {}).get("id"))
        self.held.pop(key, None)
        self.held[key] = payload  # re-inserted: the dict keeps the order counts went stale in
        if self.vote_sender is None or self.vote_sender.done():
            self.vote_sender = asyncio.ensure_future(self._send_held())

    async def _send_held(self) -> None:
        loop = asyncio.get_running_loop()
        while self.held:
            wait = self.last_vote_sent + VOTE_GAP_SECONDS - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            key = next(iter(self.held))
            payload = self.held.pop(key)
            await self.send(text_data=json.dumps(payload, separators=(",", ":")))
            self.last_vote_sent = loop.time()
