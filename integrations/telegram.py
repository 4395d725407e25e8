"""
The one Telegram Bot API client of the project (python-telegram-bot).

Every request goes to ``TELEGRAM_API_BASE_URL`` + token + ``/<method>``, so
tests and benchmarks point it at the fake server in ``tests/fakes``.

A ``telegram.Bot`` belongs to one event loop: open a session per task run or
per call with ``bot_session()`` and never share it across ``asyncio.run``
calls. PTB's errors are translated into the exceptions below, which say what
the caller should do: retry later (``TelegramUnavailable``), wait
(``TelegramRetryAfter``), stop trying this chat (``TelegramForbidden``), or
give up on this request (``TelegramBadRequest``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from django.conf import settings
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    WebAppInfo,
)
from telegram import error as tg_error
from telegram.request import HTTPXRequest

from ibw import metrics

logger = structlog.get_logger(__name__)
T = TypeVar("T")

# Telegram refuses messages longer than this many characters (after entities are parsed).
MESSAGE_LIMIT = 4096
# What the bot reads: commands, membership changes of the bot itself (a person blocking it in
# their private chat, or an organizer removing it from a linked group), button presses, and
# requests to join linked chats.
ALLOWED_UPDATES = ["message", "my_chat_member", "callback_query", "chat_join_request"]


class TelegramError(Exception):
    """Base of every Telegram failure."""


class TelegramDisabled(TelegramError):
    """No ``TELEGRAM_BOT_TOKEN``: the integration is off."""


class TelegramUnavailable(TelegramError):
    """Network failure, timeout or a 5xx: transient, retry with backoff."""


class TelegramRetryAfter(TelegramError):
    """A 429: wait ``retry_after`` seconds before the next request."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = float(retry_after)
        super().__init__(f"Flood control: retry after {self.retry_after:g} s")


class TelegramForbidden(TelegramError):
    """A 403: the user blocked the bot, or the bot was removed from the chat."""


class TelegramBadRequest(TelegramError):
    """A 400 (chat not found, message too long, …): retrying will not help."""


def record_send_outcome(exc: Exception | None) -> None:
    """Count one send in ``ibw_telegram_sends_total``: sent, 429, 403 or error."""
    if exc is None:
        outcome = "sent"
    elif isinstance(exc, TelegramRetryAfter):
        outcome = "429"
    elif isinstance(exc, TelegramForbidden):
        outcome = "403"
    else:
        outcome = "error"
    metrics.record_telegram_send(outcome)


def is_enabled() -> bool:
    return bool(settings.TELEGRAM_BOT_TOKEN)


def _translate(exc: tg_error.TelegramError) -> TelegramError:
    if isinstance(exc, tg_error.RetryAfter):
        wait = exc.retry_after
        return TelegramRetryAfter(wait.total_seconds() if isinstance(wait, timedelta) else wait)
    if isinstance(exc, tg_error.Forbidden):
        return TelegramForbidden(exc.message)
    if isinstance(exc, tg_error.BadRequest):
        return TelegramBadRequest(exc.message)
    if isinstance(exc, tg_error.InvalidToken):
        return TelegramDisabled(f"Telegram rejected the bot token: {exc.message}")
    return TelegramUnavailable(getattr(exc, "message", str(exc)))


class TelegramClient:
    """The Bot API calls the project makes, on one open ``Bot``."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def _call(self, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except tg_error.TelegramError as exc:
            raise _translate(exc) from exc

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        disable_web_page_preview: bool = True,
        buttons: list[dict[str, str]] | None = None,
    ) -> int:
        """
        Send ``text`` (already HTML-escaped where it holds user input); return
        the message id. ``buttons``: one inline keyboard row, each
        ``{"text", "url"|"web_app"|"callback_data"}``.
        """
        try:
            message = await self._call(
                self.bot.send_message(
                    chat_id=chat_id,
                    text=text,
                    parse_mode=parse_mode,
                    link_preview_options=None if not disable_web_page_preview else _NO_PREVIEW,
                    reply_markup=inline_keyboard(buttons),
                )
            )
        except Exception as exc:
            record_send_outcome(exc)
            raise
        record_send_outcome(None)
        return message.message_id

    async def send_photo(self, chat_id: int, photo: bytes, *, caption: str = "", filename: str = "photo.png") -> int:
        """Send a PNG/JPEG ``photo`` (bytes) with an HTML ``caption``; return the message id."""
        message = await self._call(
            self.bot.send_photo(
                chat_id=chat_id, photo=InputFile(photo, filename=filename), caption=caption or None, parse_mode="HTML"
            )
        )
        return message.message_id

    async def set_my_commands(self, commands: list[tuple[str, str]]) -> bool:
        """Register the bot's command list (``(command, description)`` pairs) shown in Telegram's menu."""
        return await self._call(self.bot.set_my_commands([BotCommand(name, about) for name, about in commands]))

    async def answer_callback_query(self, callback_query_id: str, *, text: str = "") -> bool:
        return await self._call(self.bot.answer_callback_query(callback_query_id, text=text or None))

    async def get_chat_member_status(self, chat_id: int | str, user_id: int) -> str:
        """Return ``creator``, ``administrator``, ``member``, ``restricted``, ``left`` or ``kicked``."""
        member = await self._call(self.bot.get_chat_member(chat_id=chat_id, user_id=user_id))
        return member.status

    async def set_webhook(self, url: str, *, secret_token: str) -> bool:
        return await self._call(
            self.bot.set_webhook(url=url, secret_token=secret_token or None, allowed_updates=ALLOWED_UPDATES)
        )

    async def delete_webhook(self) -> bool:
        return await self._call(self.bot.delete_webhook())

    async def get_updates(self, *, offset: int | None, timeout: int = 30) -> list[dict[str, Any]]:
        updates = await self._call(
            self.bot.get_updates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES)
        )
        return [update.to_dict() for update in updates]

    async def get_chat(self, chat_id: int) -> ChatInfo:
        """``getChat``: the chat's type and title; a chat Telegram does not know is ``TelegramBadRequest``."""
        chat = await self._call(self.bot.get_chat(chat_id=chat_id))
        title = chat.title or " ".join(p for p in (chat.first_name, chat.last_name) if p) or chat.username or ""
        return ChatInfo(id=chat.id, type=chat.type, title=title)

    async def get_bot_rights(self, chat_id: int) -> BotRights:
        """``getChatMember`` of the bot itself in ``chat_id``: its status and the rights chat links need."""
        member = await self._call(self.bot.get_chat_member(chat_id=chat_id, user_id=self.bot.id))
        return BotRights.from_member(member.to_dict())

    async def create_invite_link(self, chat_id: int, *, name: str) -> str:
        """``createChatInviteLink`` with ``creates_join_request``: a link whose joins the bot decides."""
        link = await self._call(
            self.bot.create_chat_invite_link(chat_id=chat_id, name=name[:32] or None, creates_join_request=True)
        )
        return link.invite_link

    async def revoke_invite_link(self, chat_id: int, invite_link: str) -> None:
        await self._call(self.bot.revoke_chat_invite_link(chat_id=chat_id, invite_link=invite_link))


@dataclass(frozen=True)
class ChatInfo:
    id: int
    type: str  # private, group, supergroup, channel
    title: str


@dataclass(frozen=True)
class BotRights:
    """What the bot may do in a chat, from a ``ChatMember`` (the Bot API's JSON or an update's)."""

    status: str
    can_invite_users: bool
    can_post_messages: bool

    @classmethod
    def from_member(cls, member: dict[str, Any]) -> BotRights:
        status = str(member.get("status") or "left")
        if status == "creator":
            return cls(status, True, True)
        if status != "administrator":
            return cls(status, False, False)
        # ``can_post_messages`` exists in channels only; a group's administrators may always post.
        return cls(status, bool(member.get("can_invite_users")), bool(member.get("can_post_messages", True)))

    def missing(self, *, post: bool) -> list[str]:
        """The rights a chat link needs that the bot lacks (``administrator`` first when it is none)."""
        if self.status not in ("administrator", "creator"):
            return ["administrator"]
        wanted = ["can_invite_users"] + (["can_post_messages"] if post else [])
        return [right for right in wanted if not getattr(self, right)]


def inline_keyboard(buttons: list[dict[str, str]] | None) -> InlineKeyboardMarkup | None:
    """One row of inline buttons from plain dicts (``url``, ``web_app`` (a URL) or ``callback_data``)."""
    if not buttons:
        return None
    row = []
    for button in buttons:
        if "web_app" in button:
            row.append(InlineKeyboardButton(button["text"], web_app=WebAppInfo(button["web_app"])))
        elif "url" in button:
            row.append(InlineKeyboardButton(button["text"], url=button["url"]))
        else:
            row.append(InlineKeyboardButton(button["text"], callback_data=button["callback_data"]))
    return InlineKeyboardMarkup([row])


def _no_preview() -> LinkPreviewOptions:
    return LinkPreviewOptions(is_disabled=True)


_NO_PREVIEW = _no_preview()


@contextlib.asynccontextmanager
async def bot_session() -> AsyncIterator[TelegramClient]:
    """Open a ``Bot`` on the current loop (one ``getMe``), yield a client, close it."""
    if not is_enabled():
        raise TelegramDisabled("TELEGRAM_BOT_TOKEN is not set.")
    bot = Bot(
        settings.TELEGRAM_BOT_TOKEN,
        base_url=settings.TELEGRAM_API_BASE_URL,
        request=HTTPXRequest(connection_pool_size=8, connect_timeout=5, read_timeout=15, write_timeout=15),
        get_updates_request=HTTPXRequest(connection_pool_size=1, read_timeout=60),
    )
    try:
        await bot.initialize()
    except tg_error.TelegramError as exc:
        raise _translate(exc) from exc
    try:
        yield TelegramClient(bot)
    finally:
        with contextlib.suppress(Exception):
            await bot.shutdown()


def run(operation: Callable[[TelegramClient], Awaitable[T]]) -> T:
    """Run ``operation(client)`` in a fresh event loop: the sync entry point for services and tasks."""

    async def main() -> T:
        async with bot_session() as client:
            return await operation(client)

    return asyncio.run(main())


def send_message(
    chat_id: int, text: str, *, parse_mode: str | None = "HTML", buttons: list[dict[str, str]] | None = None
) -> int:
    """Send one message from sync code; raises the exceptions above."""
    return run(lambda client: client.send_message(chat_id, text, parse_mode=parse_mode, buttons=buttons))


def send_photo(chat_id: int, photo: bytes, *, caption: str = "") -> int:
    """Send one photo from sync code; raises the exceptions above."""
    return run(lambda client: client.send_photo(chat_id, photo, caption=caption))


def get_chat_member_status(chat_id: int | str, user_id: int) -> str:
    return run(lambda client: client.get_chat_member_status(chat_id, user_id))


def inspect_chat(chat_id: int) -> tuple[ChatInfo, BotRights | None]:
    """``getChat``, then (unless it is a private chat) ``getChatMember`` of the bot, in one session."""

    async def both(client: TelegramClient) -> tuple[ChatInfo, BotRights | None]:
        chat = await client.get_chat(chat_id)
        if chat.type == "private":
            return chat, None
        return chat, await client.get_bot_rights(chat_id)

    return run(both)


def create_invite_link(chat_id: int, *, name: str) -> str:
    return run(lambda client: client.create_invite_link(chat_id, name=name))


def revoke_invite_links(chat_id: int, links: list[str], *, revoked: Callable[[str], object]) -> None:
    """
    Revoke each of ``links`` in one session, calling ``revoked(link)`` after
    each success (or when Telegram says the link or chat is gone: nothing
    left to revoke); a transient failure stops there and is raised.
    """

    async def all_of(client: TelegramClient) -> None:
        for link in links:
            try:
                await client.revoke_invite_link(chat_id, link)
            except (TelegramBadRequest, TelegramForbidden) as exc:
                logger.info("invite_link_already_unusable", chat_id=chat_id, error=str(exc))
            revoked(link)

    run(all_of)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into chunks under ``limit``, at paragraph, line or word breaks where possible."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        if cut <= 0:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not chunks:
        chunks.append(rest)
    return chunks
