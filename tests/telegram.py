"""Telegram payloads as Telegram sends them: signed logins (with the test bot token) and bot updates."""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import urlencode

from users.telegram_auth import webapp_hash, widget_hash

BOT_TOKEN = "123456789:TEST-bot-token-for-ibw-tests"
WEBHOOK = "/api/v1/integrations/telegram/webhook/"
WEBHOOK_SECRET = "test-webhook-secret"

_update_ids = itertools.count(10_000)
_message_ids = itertools.count(1)


def signed_widget(telegram_id: int = 4242, *, token: str = BOT_TOKEN, auth_date: int | None = None, **fields) -> dict:
    payload = {
        "id": telegram_id,
        "first_name": "Ada",
        "username": "ada",
        "auth_date": auth_date or int(time.time()),
        **fields,
    }
    payload["hash"] = widget_hash(payload, token)
    return payload


def signed_init_data(
    telegram_id: int = 4242, *, token: str = BOT_TOKEN, auth_date: int | None = None, **user_fields
) -> str:
    user = {"id": telegram_id, "first_name": "Ada", "username": "ada", **user_fields}
    fields = {
        "query_id": "AAH",
        "user": json.dumps(user, separators=(",", ":")),
        "auth_date": str(auth_date or int(time.time())),
    }
    fields["hash"] = webapp_hash(fields, token)
    return urlencode(fields)


def message_update(
    text: str,
    *,
    telegram_id: int = 4242,
    first_name: str = "Ada",
    username: str = "ada",
    chat_id: int | None = None,
    chat_type: str = "private",
    update_id: int | None = None,
) -> dict:
    """A Telegram ``Update`` carrying a text message, as the Bot API sends it."""
    sender = {"id": telegram_id, "is_bot": False, "first_name": first_name, "username": username, "language_code": "en"}
    chat = (
        {"id": telegram_id, "first_name": first_name, "username": username, "type": "private"}
        if chat_type == "private"
        else {"id": chat_id, "title": "IBW chat", "type": chat_type}
    )
    message = {"message_id": next(_message_ids), "from": sender, "chat": chat, "date": int(time.time()), "text": text}
    if text.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    return {"update_id": update_id if update_id is not None else next(_update_ids), "message": message}


def chat_join_request_update(
    chat_id: int,
    *,
    telegram_id: int = 4242,
    first_name: str = "Ada",
    chat_title: str = "IBW group",
    chat_type: str = "supergroup",
    date: int | None = None,
    invite_link: str | None = None,
    update_id: int | None = None,
) -> dict:
    """A ``chat_join_request`` update: someone asked to join ``chat_id`` through an invite link."""
    request: dict = {
        "chat": {"id": chat_id, "title": chat_title, "type": chat_type},
        "from": {"id": telegram_id, "is_bot": False, "first_name": first_name, "language_code": "en"},
        "user_chat_id": telegram_id,
        "date": date if date is not None else int(time.time()),
    }
    if invite_link:
        request["invite_link"] = {
            "invite_link": invite_link,
            "creator": {"id": 123456789, "is_bot": True, "first_name": "IBW"},
            "creates_join_request": True,
            "is_primary": False,
            "is_revoked": False,
        }
    return {"update_id": update_id if update_id is not None else next(_update_ids), "chat_join_request": request}


def my_chat_member_update(
    chat_id: int,
    *,
    new: dict,
    old_status: str = "administrator",
    chat_title: str = "IBW group",
    chat_type: str = "supergroup",
    by: int = 777,
    update_id: int | None = None,
) -> dict:
    """A ``my_chat_member`` update: the bot's own membership in ``chat_id`` became ``new`` (a ChatMember)."""
    bot = {"id": 123456789, "is_bot": True, "first_name": "IBW", "username": "ibw_test_bot"}
    return {
        "update_id": update_id if update_id is not None else next(_update_ids),
        "my_chat_member": {
            "chat": {"id": chat_id, "title": chat_title, "type": chat_type},
            "from": {"id": by, "is_bot": False, "first_name": "Org"},
            "date": int(time.time()),
            "old_chat_member": {"status": old_status, "user": bot},
            "new_chat_member": new,
        },
    }
