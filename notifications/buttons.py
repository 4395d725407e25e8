"""
The inline button under a notification sent on Telegram: it opens the thing
the notification is about, in the Mini App when ``TELEGRAM_WEBAPP_URL`` is
set (``<url>?startapp=<target>``, a ``web_app`` button), else through a deep
link into the bot (``https://t.me/<bot>?start=<target>``). Session reminders
also get a "Mute reminders" button (``callback_data`` ``mute_reminders``:
the bot turns the person's session reminders off; ``/unmute`` turns them on). Targets are ``session_<id>``, ``event_<id>``,
``meeting_<id>``, ``quest_<id>``, ``connection_<id>``, ``submission_<id>``
or ``conf_<slug>``: Telegram's ``start`` alphabet, at most 64 characters.
"""

from __future__ import annotations

import re

from django.conf import settings

from notifications.models import Notification, NotificationKind

MUTE_CALLBACK = "mute_reminders"
_ORDER = ("session", "event", "meeting", "quest", "connection", "submission")
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def target(kind: str, data: dict) -> str | None:
    """The start parameter naming what a notification of ``kind`` with ``data`` is about, or ``None``."""
    keys = [k for k in _ORDER if isinstance(data.get(k), int)]
    if kind == NotificationKind.SESSION_CANCELLED:
        keys = [k for k in keys if k != "session"]  # the session is gone: open its conference
    if keys:
        return f"{keys[0]}_{data[keys[0]]}"
    if isinstance(data.get("conference"), str) and data["conference"]:
        return _SAFE.sub("", f"conf_{data['conference']}")[:64]
    return None


def open_button(kind: str, data: dict) -> dict[str, str] | None:
    where = target(kind, data)
    if where is None:
        return None
    if settings.TELEGRAM_WEBAPP_URL:
        joiner = "&" if "?" in settings.TELEGRAM_WEBAPP_URL else "?"
        return {"text": "Open", "web_app": f"{settings.TELEGRAM_WEBAPP_URL}{joiner}startapp={where}"}
    if settings.TELEGRAM_BOT_USERNAME:
        return {"text": "Open", "url": f"https://t.me/{settings.TELEGRAM_BOT_USERNAME}?start={where}"}
    return None


def buttons_for(notification: Notification) -> list[dict[str, str]] | None:
    """The inline keyboard row for ``notification`` on Telegram, or ``None``."""
    row = []
    opener = open_button(notification.kind, notification.data or {})
    if opener:
        row.append(opener)
    if notification.kind == NotificationKind.SESSION_REMINDER:
        row.append({"text": "🔕 Mute reminders", "callback_data": MUTE_CALLBACK})
    return row or None
