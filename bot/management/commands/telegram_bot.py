"""
Run the bot by long polling (``getUpdates``), for local use without a public URL.

The same dispatcher as the webhook handles each update, and the same
``update_id`` bookkeeping keeps an update from being acted on twice. The
ORM runs in ``sync_to_async``; the Bot API session stays open on one loop.
"""

from __future__ import annotations

import asyncio

import structlog
from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from bot import handlers, services
from conferences.calendar import badge_png
from integrations import telegram
from users.services import mark_telegram_chat_blocked

logger = structlog.get_logger(__name__)


def _accept_and_handle(payload: dict) -> list[handlers.Reply]:
    if services.accept_update(payload, enqueue=False) is None:
        return []
    if services.claim_update(payload["update_id"]) is None:
        return []
    return handlers.handle_update(payload)


async def _send(client: telegram.TelegramClient, reply: handlers.Reply) -> None:
    for _ in range(5):
        try:
            if reply.badge_code:
                await client.send_photo(reply.chat_id, badge_png(reply.badge_code), caption=reply.text)
            else:
                await client.send_message(reply.chat_id, reply.text)
            return
        except telegram.TelegramRetryAfter as exc:
            await asyncio.sleep(exc.retry_after)
        except telegram.TelegramForbidden:
            await sync_to_async(mark_telegram_chat_blocked)(reply.chat_id)
            return
        except (telegram.TelegramBadRequest, telegram.TelegramUnavailable) as exc:
            logger.warning("bot_reply_dropped", chat_id=reply.chat_id, error=str(exc))
            return


class Command(BaseCommand):
    help = "Run the Telegram bot by long polling (deletes any webhook first)."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=int, default=30, help="getUpdates long-poll timeout in seconds")
        parser.add_argument("--once", action="store_true", help="handle one batch of updates, then exit")

    def handle(self, *args, timeout: int, once: bool, **options):
        if not telegram.is_enabled():
            raise CommandError("TELEGRAM_BOT_TOKEN is not set: the bot is disabled.")
        try:
            asyncio.run(self._poll(timeout=timeout, once=once))
        except KeyboardInterrupt:
            pass
        except telegram.TelegramError as exc:
            raise CommandError(f"Telegram: {exc}") from exc

    async def _poll(self, *, timeout: int, once: bool) -> None:
        handle = sync_to_async(_accept_and_handle, thread_sensitive=True)
        try:
            await self._loop(handle, timeout=timeout, once=once)
        finally:
            # The handlers' database connection lives in asgiref's sync thread.
            await sync_to_async(connections.close_all, thread_sensitive=True)()

    async def _loop(self, handle, *, timeout: int, once: bool) -> None:
        async with telegram.bot_session() as client:
            # getUpdates is refused while a webhook is set.
            await client.delete_webhook()
            self.stdout.write("Polling Telegram for updates; Ctrl-C stops.")
            offset: int | None = None
            while True:
                try:
                    updates = await client.get_updates(offset=offset, timeout=timeout)
                except telegram.TelegramRetryAfter as exc:
                    await asyncio.sleep(exc.retry_after)
                    continue
                except telegram.TelegramUnavailable as exc:
                    logger.warning("bot_poll_failed", error=str(exc))
                    await asyncio.sleep(3)
                    continue
                for payload in updates:
                    offset = payload["update_id"] + 1
                    for reply in await handle(payload):
                        await _send(client, reply)
                if once:
                    return
