"""
Sending texts to one Telegram chat after another from a synchronous worker:
one ``Bot`` session on one event loop per task run, HTML formatting of a
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
from contextlib import AbstractAsyncContextManager

import structlog

from integrations import ratelimit, telegram

logger = structlog.get_logger(__name__)


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
    One ``Bot`` on one event loop for one task run (a ``Bot`` must not be
    shared across loops); opened on the first send, so a run with nothing
    to send makes no request. Database work stays synchronous between sends.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: AbstractAsyncContextManager[telegram.TelegramClient] | None = None
        self._client: telegram.TelegramClient | None = None

    def send(self, chat_id: int, text: str, *, buttons: list[dict[str, str]] | None = None) -> int:
        """Send one HTML message (no rate limiting: see ``send_titled``); return its message id."""
        if self._client is None:
            self._open()
        assert self._loop is not None and self._client is not None
        return self._loop.run_until_complete(self._client.send_message(chat_id, text, buttons=buttons))

    def send_titled(self, chat_id: int, *, title: str, body: str, buttons: list[dict[str, str]] | None = None) -> None:
        """
        Send ``title`` and ``body`` as one or more HTML messages. The caller
        has taken the rate limiter's token for the first message (so it can
        give up before a long 429 pause); each further part waits for its own.
        On a 429 every worker is paused for ``retry_after`` and
        ``TelegramRetryAfter`` is raised; other Telegram errors are raised as is.
        ``buttons`` go under the last message.
        """
        try:
            parts = telegram_parts(title, body)
            for index, part in enumerate(parts):
                if index:
                    ratelimit.acquire(max_wait=3600)
                self.send(chat_id, part, buttons=buttons if index == len(parts) - 1 else None)
        except telegram.TelegramRetryAfter as exc:
            ratelimit.pause(exc.retry_after)
            logger.info("telegram_rate_limited", retry_after=exc.retry_after)
            raise

    def _open(self) -> None:
        self._loop = asyncio.new_event_loop()
        session = telegram.bot_session()
        try:
            self._client = self._loop.run_until_complete(session.__aenter__())
        except BaseException:
            self._loop.close()
            self._loop = None
            raise
        self._session = session

    def close(self) -> None:
        if self._loop is None:
            return
        if self._session is not None:
            try:
                self._loop.run_until_complete(self._session.__aexit__(None, None, None))
            except Exception as exc:  # closing a session that failed is not worth failing the task
                logger.warning("telegram_session_close_failed", error=str(exc))
        self._loop.close()
        self._loop = self._session = self._client = None

    def __enter__(self) -> TelegramSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
