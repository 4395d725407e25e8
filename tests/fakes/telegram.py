"""
A fake Telegram Bot API server on 127.0.0.1 that speaks the real wire format:
``/bot<token>/<method>``, JSON or form bodies, ``{"ok": true, "result": …}``
and ``{"ok": false, "error_code": 429, "parameters": {"retry_after": n}}``.

It records every call and can be told to answer 429, 403 or 5xx, to be slow,
or which chats a user belongs to. For linked group chats it knows chats
(``add_chat``: ``getChat``), the bot's own rights there (``set_bot_rights``:
``getChatMember`` of the bot), invite links (``createChatInviteLink``,
``revokeChatInviteLink``) and join-request decisions
(``approveChatJoinRequest``, ``declineChatJoinRequest``: a second decision of
one request answers 400 as Telegram does); ``push_update`` queues an update
(a ``chat_join_request`` or ``my_chat_member`` from ``tests.telegram``) for
``getUpdates``. Run it in-process (``FakeTelegram()`` as a
context manager, a thread with its own loop) or as a process:
``python -m tests.fakes.telegram --port 8081``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ibw.embedded import free_port


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    remaining: int = 1


class FakeTelegram:
    def __init__(self, port: int | None = None, *, bot_username: str = "ibw_test_bot") -> None:
        self.port = port or free_port()
        self.bot_username = bot_username
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.blocked_chats: set[int] = set()
        self.chat_members: dict[tuple[str, int], str] = {}
        self.updates: list[dict[str, Any]] = []
        self.delay = 0.0
        self.chats: dict[int, dict[str, Any]] = {}
        self.bot_rights: dict[int, dict[str, Any]] = {}
        self.invite_links: dict[str, dict[str, Any]] = {}
        # (chat id, user id) -> "approved" / "declined"; only requests in ``join_requests`` can be decided.
        self.join_requests: set[tuple[int, int]] = set()
        self.join_decisions: dict[tuple[int, int], str] = {}
        self._message_ids = itertools.count(1)
        self._invite_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The value for ``TELEGRAM_API_BASE_URL``."""
        return f"http://127.0.0.1:{self.port}/bot"

    def fail(
        self, method: str, status: int, description: str = "", *, retry_after: int | None = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error."""
        with self._lock:
            self.failures.append(
                Failure(method, status, description or _DEFAULT_DESCRIPTIONS.get(status, "Error"), retry_after, times)
            )

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        return [
            c.params.get("text", "")
            for c in self.calls_of("sendMessage")
            if chat_id is None or int(c.params["chat_id"]) == chat_id
        ]

    def sent_buttons(self, chat_id: int) -> list[list[dict[str, Any]] | None]:
        """The inline keyboard row under each message sent to ``chat_id`` (``None`` for none)."""
        return [
            (c.params.get("reply_markup") or {}).get("inline_keyboard", [None])[0]
            for c in self.calls_of("sendMessage")
            if int(c.params["chat_id"]) == chat_id
        ]

    def add_chat(self, chat_id: int, *, title: str = "IBW group", type: str = "supergroup", bot: str = "admin") -> None:
        """
        A chat Telegram knows, and the bot's place in it: ``admin`` (may
        invite and post), ``no_invite``, ``no_post`` (a channel admin that may
        not post), ``member`` or ``left``.
        """
        with self._lock:
            self.chats[chat_id] = {"id": chat_id, "type": type, "title": title}
            self.bot_rights[chat_id] = bot_member(bot, channel=type == "channel")

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue ``update`` for ``getUpdates`` (long polling); a ``chat_join_request`` becomes decidable."""
        with self._lock:
            self.updates.append(update)
        self.expect_join_request(update)

    def expect_join_request(self, update: dict[str, Any]) -> None:
        """Make the ``chat_join_request`` in ``update`` (if any) one Telegram holds open until decided."""
        request = update.get("chat_join_request")
        if request:
            with self._lock:
                key = (int(request["chat"]["id"]), int(request["from"]["id"]))
                self.join_requests.add(key)
                self.join_decisions.pop(key, None)

    def decision_calls(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method in ("approveChatJoinRequest", "declineChatJoinRequest")]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.failures.clear()
            self.blocked_chats.clear()
            self.chat_members.clear()
            self.chats.clear()
            self.bot_rights.clear()
            self.invite_links.clear()
            self.join_requests.clear()
            self.join_decisions.clear()
            self.updates = []
            self.delay = 0.0
            self._message_ids = itertools.count(1)

    # --- server ----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params = await _read_params(request)
        with self._lock:
            self.calls.append(Call(method, params, token))
            failure = next((f for f in self.failures if f.method in (method, "*") and f.remaining > 0), None)
            if failure:
                failure.remaining -= 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if failure:
            body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return web.json_response(body, status=failure.status)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return await handler(params)

    async def _m_getMe(self, params):
        return _ok(
            {
                **_BOT_USER,
                "username": self.bot_username,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _m_sendMessage(self, params):
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked_chats:
            return web.json_response(
                {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}, status=403
            )
        return _ok(
            {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": params.get("text", ""),
            }
        )

    async def _m_sendPhoto(self, params):
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked_chats:
            return web.json_response(
                {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}, status=403
            )
        photo = params.get("photo")
        if not isinstance(photo, bytes) or not photo:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: there is no photo in the request"},
                status=400,
            )
        return _ok(
            {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "photo": [{"file_id": "p1", "file_unique_id": "u1", "width": 300, "height": 300}],
                "caption": params.get("caption", ""),
            }
        )

    async def _m_setMyCommands(self, params):
        commands = params.get("commands")
        if not isinstance(commands, list) or not all("command" in c and "description" in c for c in commands):
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: commands are invalid"}, status=400
            )
        return _ok(True)

    async def _m_getChat(self, params):
        chat = self.chats.get(_int(params.get("chat_id")))
        if chat is None:
            return _error(400, "Bad Request: chat not found")
        return _ok({**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": _NO_GIFTS})

    async def _m_createChatInviteLink(self, params):
        chat_id = _int(params.get("chat_id"))
        if chat_id not in self.chats:
            return _error(400, "Bad Request: chat not found")
        if not self.bot_rights.get(chat_id, {}).get("can_invite_users"):
            return _error(400, "Bad Request: not enough rights to manage chat invite link")
        if len(str(params.get("name") or "")) > 32:
            return _error(400, "Bad Request: invite link name is too long")
        link = {
            "invite_link": f"https://t.me/+fake{next(self._invite_ids):06d}",
            "creator": _BOT_USER,
            "creates_join_request": _truthy(params.get("creates_join_request")),
            "is_primary": False,
            "is_revoked": False,
            **({"name": params["name"]} if params.get("name") else {}),
        }
        with self._lock:
            self.invite_links[link["invite_link"]] = {**link, "chat_id": chat_id}
        return _ok(link)

    async def _m_revokeChatInviteLink(self, params):
        with self._lock:
            link = self.invite_links.get(str(params.get("invite_link")))
            if link is None or link["chat_id"] != _int(params.get("chat_id")):
                return _error(400, "Bad Request: INVITE_HASH_EXPIRED")
            link["is_revoked"] = True
        return _ok({k: v for k, v in link.items() if k != "chat_id"})

    async def _m_approveChatJoinRequest(self, params):
        return self._decide(params, "approved")

    async def _m_declineChatJoinRequest(self, params):
        return self._decide(params, "declined")

    def _decide(self, params: dict[str, Any], decision: str) -> web.Response:
        key = (_int(params.get("chat_id")), _int(params.get("user_id")))
        with self._lock:
            if key not in self.join_requests or key in self.join_decisions:
                return _error(400, "Bad Request: HIDE_REQUESTER_MISSING")
            self.join_decisions[key] = decision
        return _ok(True)

    async def _m_getChatMember(self, params):
        if _int(params.get("user_id")) == _BOT_USER["id"]:
            member = self.bot_rights.get(_int(params.get("chat_id")))
            if member is None:
                return _error(400, "Bad Request: chat not found")
            return _ok(member)
        status = self.chat_members.get((str(params["chat_id"]), int(params["user_id"])), "left")
        return _ok(
            {
                "status": status,
                "user": {"id": int(params["user_id"]), "is_bot": False, "first_name": "U"},
                **({"until_date": 0} if status == "kicked" else {}),
                **({"is_member": status == "restricted"} if status == "restricted" else {}),
            }
        )

    async def _m_setWebhook(self, params):
        return _ok(True)

    async def _m_deleteWebhook(self, params):
        return _ok(True)

    async def _m_getUpdates(self, params):
        offset = int(params.get("offset") or 0)
        with self._lock:
            pending = [u for u in self.updates if u["update_id"] >= offset]
        if not pending:
            await asyncio.sleep(min(float(params.get("timeout") or 0), 0.2))
        return _ok(pending)

    async def _m_answerCallbackQuery(self, params):
        return _ok(True)

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> FakeTelegram:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._runner = web.AppRunner(self.app(), access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            self._loop.run_until_complete(site.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="fake-telegram", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Telegram server did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests: retry after",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


BOT_ID = 123456789
_BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "IBW", "username": "ibw_test_bot"}
_NO_GIFTS = {
    "unlimited_gifts": False,
    "limited_gifts": False,
    "unique_gifts": False,
    "premium_subscription": False,
    "gifts_from_channels": False,
}
_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}


def bot_member(kind: str, *, channel: bool = False) -> dict[str, Any]:
    """The bot's ``ChatMember`` JSON: ``admin``, ``no_invite``, ``no_post``, ``member``, ``left`` or ``kicked``."""
    if kind in ("member", "left"):
        return {"status": kind, "user": _BOT_USER}
    if kind == "kicked":
        return {"status": "kicked", "user": _BOT_USER, "until_date": 0}
    rights = {**_ADMIN_RIGHTS, "can_invite_users": kind != "no_invite"}
    if channel:
        rights.update(can_post_messages=kind != "no_post", can_edit_messages=True)
    return {"status": "administrator", "user": _BOT_USER, **rights}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = value.file.read()  # an uploaded file (sendPhoto): its bytes
                elif isinstance(value, str):
                    try:
                        params[key] = json.loads(value) if value[:1] in "[{" else value
                    except ValueError:
                        params[key] = value
    return params


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--rate-log", action="store_true", help="print sendMessage calls per second")
    args = parser.parse_args()
    fake = FakeTelegram(args.port)
    web.run_app(fake.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)
