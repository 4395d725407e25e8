"""
A lean Bot API transport for high-volume ``sendMessage`` (broadcast lanes
and Telegram copies of notifications): one aiohttp session per task run with
a keep-alive connection pool, JSON in and out, no object model.

Profiled against the fake Bot API: python-telegram-bot over httpx costs
about 1.8 ms of client CPU per message (request building, ``Message``
parsing, httpx's pool), this about 0.2 ms; at 1,000 messages a second on
two cores that difference is the pipeline's ceiling.

Answers are translated into the same ``integrations.telegram`` errors as
PTB's (and with the same status mapping: 429 ``TelegramRetryAfter``, 403
``TelegramForbidden``, 400 ``TelegramBadRequest``, 401/404 the token is
wrong ``TelegramDisabled``, anything else and network failures or timeouts
``TelegramUnavailable``). Knows nothing of users, notifications or
broadcasts.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from django.conf import settings

from integrations import telegram

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0


class BotApiSession:
    """One aiohttp session on the running loop; ``close()`` it on the same loop."""

    def __init__(self, *, pool_size: int = 32) -> None:
        if not telegram.is_enabled():
            raise telegram.TelegramDisabled("TELEGRAM_BOT_TOKEN is not set.")
        self._url = f"{settings.TELEGRAM_API_BASE_URL}{settings.TELEGRAM_BOT_TOKEN}/"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(total=TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT),
        )

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """POST ``params`` as JSON to ``method``; return ``result`` or raise the translated error."""
        try:
            async with self._session.post(self._url + method, json=params) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise telegram.TelegramUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if isinstance(body, dict) and body.get("ok") is True and status < 300:
            return body.get("result")
        raise _error(status, body if isinstance(body, dict) else {})

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        allow_paid_broadcast: bool = False,
        buttons: list[dict[str, str]] | None = None,
    ) -> int:
        """
        Send one HTML message without a link preview; return its message id.
        ``buttons``: one row of inline buttons (``{"text", "url"|"web_app"|"callback_data"}``).
        Every outcome is counted in ``ibw_telegram_sends_total``.
        """
        params: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        if allow_paid_broadcast:
            params["allow_paid_broadcast"] = True
        if buttons:
            params["reply_markup"] = inline_keyboard(buttons)
        try:
            result = await self.call("sendMessage", params)
        except Exception as exc:
            telegram.record_send_outcome(exc)
            raise
        telegram.record_send_outcome(None)
        return int(result["message_id"]) if isinstance(result, dict) and "message_id" in result else 0

    async def close(self) -> None:
        await self._session.close()


def inline_keyboard(buttons: list[dict[str, str]]) -> dict[str, Any]:
    """The Bot API's ``InlineKeyboardMarkup`` JSON for plain button dicts (``telegram.inline_keyboard`` maps them)."""
    markup = telegram.inline_keyboard(buttons)
    return markup.to_dict() if markup is not None else {"inline_keyboard": []}


def _error(status: int, body: dict[str, Any]) -> telegram.TelegramError:
    code = body.get("error_code", status)
    description = str(body.get("description") or f"HTTP {status}")
    parameters = body.get("parameters") or {}
    if code == 429 or status == 429:
        return telegram.TelegramRetryAfter(float(parameters.get("retry_after") or 1))
    if code == 403:
        return telegram.TelegramForbidden(description)
    if code == 400:
        return telegram.TelegramBadRequest(description)
    if code in (401, 404):
        return telegram.TelegramDisabled(f"Telegram rejected the bot token: {description}")
    return telegram.TelegramUnavailable(description)
