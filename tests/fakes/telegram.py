"""
A fake Telegram Bot API server on 127.0.0.1 that speaks the real wire format:
``/bot<token>/<method>``, JSON or form bodies, ``{"ok": true, "result": …}``
and ``{"ok": false, "error_code": 429, "parameters": {"retry_after": n}}``.

It records every call and can be told to answer 429, 403 or 5xx, to be slow,
or which chats a user belongs to. Run it in-process (``FakeTelegram()`` as a
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
        self._message_ids = itertools.count(1)
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

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.failures.clear()
            self.blocked_chats.clear()
            self.chat_members.clear()
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
                "id": 123456789,
                "is_bot": True,
                "first_name": "IBW",
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

    async def _m_getChatMember(self, params):
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
