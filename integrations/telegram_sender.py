"""
Sending texts to Telegram chats from a synchronous worker: one keep-alive
Bot API session (``integrations.bot_api``) on one event loop per task run,
windows of messages sent concurrently, HTML formatting of a
title and body, and the global rate limiter (``integrations.ratelimit``)
between messages. A 429 pauses every worker for Telegram's ``retry_after``
before the error reaches the caller; every other Telegram answer reaches the
caller as the ``integrations.telegram`` error it is (403
``TelegramForbidden``, 400 ``TelegramBadRequest``, 5xx/network
``TelegramUnavailable``), for it to decide what that means for its rows.

Knows nothing of users, notifications or broadcasts.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable
from typing import Any, TypeVar

import structlog

from integrations import bot_api, ratelimit, telegram

logger = structlog.get_logger(__name__)
T = TypeVar("T")
# (chat id, title, body, inline buttons under the last part or None)
Message = tuple[int, str, str, list[dict[str, str]] | None]


def telegram_parts(title: str, body: str) -> list[str]:
    """The HTML messages for ``title`` and ``body``: escaped, title in bold, split under Telegram's limit."""
    raw = f"{title}\n\n{body}" if body else title
    parts = telegram.split_message(raw)
    escaped = [html.escape(part, quote=False) for part in parts]
    if title and parts[0].startswith(title):
        escaped[0] = f"<b>{html.escape(title, quote=False)}</b>{html.escape(parts[0][len(title) :], quote=False)}"
    return escaped


class TelegramSender:
    """
    One Bot API session (``integrations.bot_api``: a keep-alive connection
    pool) on one event loop for one task run; opened on the first send, so a
    run with nothing to send makes no request. Database work stays
    synchronous between sends; ``send_titled_many`` sends a window of
    messages concurrently. With ``paid`` every message carries
    ``allow_paid_broadcast`` (Telegram's paid broadcasts, up to 1,000 a second).
    """

    def __init__(self, *, paid: bool = False) -> None:
        self.paid = paid
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: bot_api.BotApiSession | None = None

    def send(self, chat_id: int, text: str) -> int:
        """Send one HTML message (no rate limiting: see ``send_titled``); return its message id."""
        return self._run(self._send(chat_id, text))

    def send_titled(self, chat_id: int, *, title: str, body: str, buttons: list[dict[str, str]] | None = None) -> None:
        """
        Send ``title`` and ``body`` as one or more HTML messages. The caller
        has taken the rate limiter's token for the first message (so it can
        give up before a long 429 pause); each further part waits for its own.
        On a 429 every worker is paused for ``retry_after`` and
        ``TelegramRetryAfter`` is raised; other Telegram errors are raised as is.
        """
        [error] = self.send_titled_many([(chat_id, title, body, buttons)])
        if error is not None:
            raise error

    def send_titled_many(self, messages: list[Message]) -> list[BaseException | None]:
        """
        Send each ``(chat_id, title, body, buttons)`` as in ``send_titled`` (the
        buttons under the last part), all at
        once on the open connection pool; return each one's error (``None``
        when sent), in order. The caller has taken one rate-limiter token per
        message. A 429 pauses every worker once.
        """
        results = self._run(self._gather(messages))
        errors: list[BaseException | None] = [r if isinstance(r, BaseException) else None for r in results]
        limited = [e for e in errors if isinstance(e, telegram.TelegramRetryAfter)]
        if limited:
            retry_after = max(e.retry_after for e in limited)
            ratelimit.pause(retry_after)
            logger.info("telegram_rate_limited", retry_after=retry_after, refused=len(limited))
        return errors

    def call_many(self, calls: list[tuple[str, dict[str, Any]]]) -> list[BaseException | None]:
        """
        Make each ``(method, params)`` Bot API call at once on the open pool
        (the caller took one rate-limiter token per call); return each one's
        error, ``None`` when it succeeded. A 429 pauses every worker once.
        """

        async def gather() -> list[object]:
            assert self._session is not None
            return await asyncio.gather(*(self._session.call(m, p) for m, p in calls), return_exceptions=True)

        results = self._run(gather())
        errors: list[BaseException | None] = [r if isinstance(r, BaseException) else None for r in results]
        limited = [e for e in errors if isinstance(e, telegram.TelegramRetryAfter)]
        if limited:
            ratelimit.pause(max(e.retry_after for e in limited))
        return errors

    async def _gather(self, messages: list[Message]) -> list[object]:
        return await asyncio.gather(*(self._send_titled(*m) for m in messages), return_exceptions=True)

    async def _send(self, chat_id: int, text: str, buttons: list[dict[str, str]] | None = None) -> int:
        assert self._session is not None
        return await self._session.send_message(chat_id, text, allow_paid_broadcast=self.paid, buttons=buttons)

    async def _send_titled(
        self, chat_id: int, title: str, body: str, buttons: list[dict[str, str]] | None = None
    ) -> None:
        parts = telegram_parts(title, body)
        for index, part in enumerate(parts):
            if index:
                await asyncio.to_thread(ratelimit.acquire, max_wait=3600)
            await self._send(chat_id, part, buttons if index == len(parts) - 1 else None)

    def _run(self, awaitable: Awaitable[T]) -> T:
        if self._loop is None:
            self._open()
        assert self._loop is not None
        return self._loop.run_until_complete(awaitable)

    def _open(self) -> None:
        self._loop = asyncio.new_event_loop()

        async def open_session() -> bot_api.BotApiSession:
            return bot_api.BotApiSession()

        try:
            self._session = self._loop.run_until_complete(open_session())
        except BaseException:
            self._loop.close()
            self._loop = None
            raise

    def close(self) -> None:
        if self._loop is None:
            return
        if self._session is not None:
            try:
                self._loop.run_until_complete(self._session.close())
            except Exception as exc:  # closing a session that failed is not worth failing the task
                logger.warning("telegram_session_close_failed", error=str(exc))
        self._loop.close()
        self._loop = None
        self._session = None

    def __enter__(self) -> TelegramSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
