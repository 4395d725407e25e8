"""
The bot's commands: one dispatcher for the webhook (through a Celery task)
and for ``manage.py telegram_bot`` (long polling).

Handlers are plain sync functions that read through the owning apps'
selectors (conferences, meetings, quests, users), write through ``users.services``,
and return the replies as text; they never talk to Telegram themselves. The
caller sends the replies, so a reply that meets a 429 can be retried without acting on the
command a second time. Async callers run ``handle_update`` through
``sync_to_async``. Replies are HTML: everything a person typed or named
(titles, rooms, names) is escaped with ``html.escape``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.utils import timezone

from chats import services as chat_services
from chats.models import JoinDecision
from conferences.selectors import (
    conference_by_slug,
    conference_for,
    latest_attendance,
    next_bookmarked_session,
    session_with_place,
    sessions_on_day,
)
from events.selectors import event_with_conference
from ibw.errors import ApplicationError
from integrations.telegram import split_message
from meetings.selectors import next_accepted_meeting
from quests.selectors import quest_progress_for
from quests.services import INVITE_PREFIX, accept_invite
from users import services as user_services
from users.models import User
from users.selectors import active_user_by_telegram_id
from users.telegram_auth import TelegramIdentity

logger = structlog.get_logger(__name__)

LOGIN_PREFIX = "login_"

HELP = (
    "<b>IBW bot</b>\n"
    "/agenda – today's sessions, your bookmarks first\n"
    "/next – your next bookmarked session or meeting\n"
    "/quests – your quest progress and points\n"
    "/badge – your conference badge QR code\n"
    "/mute – stop notifications here\n"
    "/unmute – get notifications here again"
)
NOT_LINKED = "Send /start first to link this chat to your IBW account."
PRIVATE_ONLY = "Please send me this command in a private chat."


@dataclass(frozen=True)
class Reply:
    chat_id: int
    text: str
    # Set for /badge: the reply is the badge's QR code as a photo, ``text`` its caption.
    badge_code: str = ""


@dataclass(frozen=True)
class Command:
    identity: TelegramIdentity
    chat_id: int
    private: bool
    argument: str


def handle_update(update: dict[str, Any]) -> list[Reply]:
    """
    Act on one Telegram update and return the replies to send, in order.

    Only messages carrying a command (or any text in a private chat, which
    gets the help) are answered; other updates return no replies. Long
    replies are split under Telegram's message length.
    """
    if isinstance(update.get("my_chat_member"), dict):
        _chat_member_changed(update["my_chat_member"])
        return []
    if isinstance(update.get("chat_join_request"), dict):
        return _join_requested(update["chat_join_request"])
    if isinstance(update.get("callback_query"), dict):
        return _button_pressed(update["callback_query"])
    message = update.get("message")
    if not isinstance(message, dict):
        return []
    text, chat, sender = message.get("text"), message.get("chat"), message.get("from")
    if not isinstance(text, str) or not isinstance(chat, dict) or not isinstance(sender, dict):
        return []
    if sender.get("is_bot") or not isinstance(sender.get("id"), int) or not isinstance(chat.get("id"), int):
        return []
    private = chat.get("type") == "private"
    word, _, argument = text.strip().partition(" ")
    if not word.startswith("/"):
        return [Reply(chat["id"], HELP)] if private else []
    name, _, addressee = word[1:].partition("@")
    if addressee and addressee.lower() != settings.TELEGRAM_BOT_USERNAME.lower():
        return []  # "/agenda@other_bot" in a group is for another bot
    handler = COMMANDS.get(name.lower())
    if handler is None:
        return [Reply(chat["id"], HELP)] if private else []
    command = Command(
        identity=TelegramIdentity(
            id=sender["id"],
            first_name=str(sender.get("first_name") or ""),
            last_name=str(sender.get("last_name") or ""),
            username=str(sender.get("username") or ""),
        ),
        chat_id=chat["id"],
        private=private,
        argument=argument.strip(),
    )
    logger.info("bot_command", command=name.lower(), telegram_id=sender["id"])
    if handler is badge:
        return [badge_reply(command)]
    return [Reply(chat["id"], chunk) for chunk in split_message(handler(command))]


def _button_pressed(query: dict[str, Any]) -> list[Reply]:
    """An inline button under a notification: ``mute_reminders`` (under session reminders) stops them."""
    sender, message = query.get("from"), query.get("message")
    if not isinstance(sender, dict) or not isinstance(sender.get("id"), int) or not isinstance(message, dict):
        return []
    chat_id = (message.get("chat") or {}).get("id")
    if query.get("data") != "mute_reminders" or not isinstance(chat_id, int):
        return []
    if not user_services.mute_session_reminders(sender["id"]):
        return [Reply(chat_id, NOT_LINKED)]
    return [Reply(chat_id, "Session reminders are off. Send /unmute to turn them on again.")]


def _join_requested(request: dict[str, Any]) -> list[Reply]:
    """
    Someone asked to join a chat through an invite link: the database
    decides (once, however often the update comes), and a declined person
    who started the bot is told why and how to register.
    """
    decided = chat_services.record_join_request(request)
    if decided is None or decided.request.decision == JoinDecision.APPROVE:
        return []
    user = decided.user
    if user is None or user.telegram_chat_id is None or user.telegram_blocked_at is not None:
        return []
    return [Reply(user.telegram_chat_id, chat_services.decline_message(decided))]


def _chat_member_changed(change: dict[str, Any]) -> None:
    """
    In a group or channel: the bot was removed or its rights changed (a
    linked chat may go inactive). In a private chat: the user blocked
    (``kicked``) or restarted (``member``) the bot.
    """
    chat, member = change.get("chat"), change.get("new_chat_member")
    if isinstance(chat, dict) and chat.get("type") in ("group", "supergroup", "channel"):
        chat_services.bot_membership_changed(change)
        return
    if not isinstance(chat, dict) or chat.get("type") != "private" or not isinstance(member, dict):
        return
    if member.get("status") == "kicked":
        user_services.mark_telegram_chat_blocked(chat["id"])
    elif member.get("status") == "member":
        user_services.unmark_telegram_chat_blocked(chat["id"])


# --- commands ---------------------------------------------------------------------


def start(command: Command) -> str:
    if not command.private:
        return PRIVATE_ONLY
    if command.argument.startswith(LOGIN_PREFIX):
        token = command.argument.removeprefix(LOGIN_PREFIX)
        try:
            user = user_services.confirm_bot_login_in_chat(token, identity=command.identity, chat_id=command.chat_id)
        except ApplicationError as exc:
            return html.escape(exc.message) + " Start a new login in the app."
        return f"You are logged in as <b>{html.escape(str(user))}</b>. Go back to the app to continue."
    user = user_services.link_bot_chat(command.identity, chat_id=command.chat_id)
    if command.argument.startswith(INVITE_PREFIX):
        return _record_invite(user, command.argument.removeprefix(INVITE_PREFIX))
    opened = _opened(command.argument)
    if opened:
        return opened
    return (
        f"Hello, <b>{html.escape(user.get_short_name())}</b>! This chat is linked to your IBW account; "
        "notifications will arrive here.\n\n" + HELP
    )


def _record_invite(user: User, code: str) -> str:
    """``/start inv_<code>``: the chat is linked; now record who invited this person."""
    try:
        invitation, _ = accept_invite(user, code=code)
    except ApplicationError as exc:
        return html.escape(exc.message) + "\n\n" + HELP
    inviter = html.escape(invitation.inviter.get_display_name())
    return (
        f"Welcome, <b>{html.escape(user.get_short_name())}</b>! You were invited by <b>{inviter}</b>; "
        "check in at the conference to count for them.\n\n" + HELP
    )


def _opened(target: str) -> str:
    """
    What a notification's deep link (``/start session_12``, ``event_5``,
    ``conf_<slug>``; see ``notifications.buttons``) opens in the chat, or ""
    for anything else.
    """
    kind, _, key = target.partition("_")
    if kind == "session" and key.isdigit() and (session := session_with_place(int(key))) is not None:
        zone = ZoneInfo(session.conference.timezone)
        start_at, end_at = session.starts_at.astimezone(zone), session.ends_at.astimezone(zone)
        room = f" · {html.escape(session.room.name)}" if session.room else ""
        return f"<b>{html.escape(session.title)}</b>\n{start_at:%a %-d %b, %H:%M}–{end_at:%H:%M}{room}"
    if kind == "event" and key.isdigit() and (event := event_with_conference(int(key))) is not None:
        zone = ZoneInfo(event.conference.timezone if event.conference is not None else settings.TIME_ZONE)
        start_at, end_at = event.starts_at.astimezone(zone), event.ends_at.astimezone(zone)
        place = f" · {html.escape(event.location)}" if event.location else ""
        return f"<b>{html.escape(event.title)}</b>\n{start_at:%a %-d %b, %H:%M}–{end_at:%H:%M}{place}"
    if kind == "conf" and (conference := conference_by_slug(key)) is not None:
        return f"<b>{html.escape(conference.name)}</b>\nSend /agenda for today's sessions, /next for your next one."
    return ""


def agenda(command: Command) -> str:
    user = _linked_user(command)
    if user is None:
        return NOT_LINKED
    conference = conference_for(user)
    if conference is None:
        return "No conference is scheduled yet."
    zone = ZoneInfo(conference.timezone)
    today = timezone.now().astimezone(zone).date()
    sessions = sessions_on_day(conference, user=user, day=today)
    title = f"<b>{html.escape(conference.name)}</b> – {today:%A %-d %B}"
    if not sessions:
        return f"{title}\nNo sessions today."
    lines = [title, ""]
    for session, bookmarked in sessions:
        start_at, end_at = session.starts_at.astimezone(zone), session.ends_at.astimezone(zone)
        mark = "⭐ " if bookmarked else ""
        room = f" · {html.escape(session.room.name)}" if session.room else ""
        lines.append(f"{mark}{start_at:%H:%M}–{end_at:%H:%M} <b>{html.escape(session.title)}</b>{room}")
    return "\n".join(lines)


def next_(command: Command) -> str:
    """The earliest of the person's next bookmarked session and next accepted meeting (one still running counts)."""
    user = _linked_user(command)
    if user is None:
        return NOT_LINKED
    now = timezone.now()
    session = next_bookmarked_session(user, now=now)
    meeting = next_accepted_meeting(user, now=now)
    if meeting is not None and (session is None or meeting.starts_at <= session.starts_at):
        zone = ZoneInfo(meeting.conference.timezone)
        other = meeting.recipient if meeting.requester_id == user.pk else meeting.requester
        table = html.escape(meeting.table.name) if meeting.table else "?"
        when = f"{meeting.starts_at.astimezone(zone):%a %H:%M}–{meeting.ends_at.astimezone(zone):%H:%M}"
        label = "Now" if meeting.starts_at <= now else "Next"
        return f"{label}: meeting with <b>{html.escape(other.get_display_name())}</b> at table <b>{table}</b>, {when}"
    if session is not None:
        zone = ZoneInfo(session.conference.timezone)
        when = f"{session.starts_at.astimezone(zone):%a %H:%M}–{session.ends_at.astimezone(zone):%H:%M}"
        room = f" · {html.escape(session.room.name)}" if session.room else ""
        label = "Now" if session.starts_at <= now else "Next"
        return f"{label}: <b>{html.escape(session.title)}</b>, {when}{room}"
    return "Nothing ahead: no bookmarked session or meeting is coming up."


def quests(command: Command) -> str:
    user = _linked_user(command)
    if user is None:
        return NOT_LINKED
    progress = quest_progress_for(user)
    if not progress:
        return "No quests yet."
    lines = ["<b>Your quests</b>"]
    for item in progress:
        done = item["total"] and item["completed"] >= item["total"]
        lines.append(f"{'✅' if done else '▫️'} {html.escape(str(item['title']))}: {item['completed']}/{item['total']}")
    lines.append(f"\nPoints: <b>{user.points}</b>")
    return "\n".join(lines)


def mute(command: Command) -> str:
    if not user_services.set_telegram_notifications(command.identity.id, enabled=False):
        return NOT_LINKED
    return "Notifications muted. Send /unmute to get them here again."


def unmute(command: Command) -> str:
    if not user_services.set_telegram_notifications(command.identity.id, enabled=True):
        return NOT_LINKED
    return "Notifications are on again. Send /mute to stop them."


def badge(command: Command) -> str:
    """The text half of /badge (what is said when there is no badge to send)."""
    return badge_reply(command).text


def badge_reply(command: Command) -> Reply:
    if not command.private:
        return Reply(command.chat_id, PRIVATE_ONLY)
    user = _linked_user(command)
    if user is None:
        return Reply(command.chat_id, NOT_LINKED)
    attendance = latest_attendance(user)
    if attendance is None:
        return Reply(command.chat_id, "You are not registered for a conference yet: register in the app first.")
    caption = f"Your badge for <b>{html.escape(attendance.conference.name)}</b>: {attendance.badge_code}"
    return Reply(command.chat_id, caption, badge_code=attendance.badge_code)


def help_(command: Command) -> str:
    return HELP


COMMANDS: dict[str, Callable[[Command], str]] = {
    "start": start,
    "agenda": agenda,
    "next": next_,
    "quests": quests,
    "mute": mute,
    "unmute": unmute,
    "badge": badge,
    "help": help_,
}

# The command menu registered with Telegram (setMyCommands) when the webhook is set.
BOT_COMMANDS: list[tuple[str, str]] = [
    ("agenda", "Today's sessions"),
    ("next", "Your next bookmarked session or meeting"),
    ("badge", "Your badge QR code"),
    ("quests", "Your quest progress"),
    ("mute", "Stop notifications here"),
    ("unmute", "Get notifications here again"),
    ("help", "What I can do"),
]


# --- reads ------------------------------------------------------------------------


def _linked_user(command: Command) -> User | None:
    return active_user_by_telegram_id(command.identity.id)
