"""Sign Telegram payloads the way Telegram does, with the test bot token."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from users.telegram_auth import webapp_hash, widget_hash

BOT_TOKEN = "123456789:TEST-bot-token-for-ibw-tests"


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
