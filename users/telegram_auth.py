"""
Verification of what Telegram signs for us: the Login Widget payload and a
Mini App's ``initData``. Pure functions of the data and the bot token.

Widget: ``hash = HMAC_SHA256(key=SHA256(bot_token), data_check_string)``.
Mini App: ``hash = HMAC_SHA256(key=HMAC_SHA256(key="WebAppData", bot_token), data_check_string)``.
The data-check string is every other field as ``key=value``, sorted by key,
joined by newlines. See https://core.telegram.org/widgets/login and
https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from users.errors import TelegramAuthExpired, TelegramAuthInvalid

# Clocks drift: an auth_date this far ahead of ours is still accepted.
CLOCK_SKEW_SECONDS = 60


@dataclass(frozen=True)
class TelegramIdentity:
    id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    photo_url: str = ""


def data_check_string(fields: Mapping[str, object]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def widget_hash(fields: Mapping[str, object], bot_token: str) -> str:
    secret = hashlib.sha256(bot_token.encode()).digest()
    return hmac.new(secret, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def webapp_hash(fields: Mapping[str, object], bot_token: str) -> str:
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def _check_date(auth_date: object, *, max_age: int, now: float | None) -> None:
    try:
        signed_at = int(str(auth_date))
    except (TypeError, ValueError):
        raise TelegramAuthInvalid("auth_date is missing or not a number.") from None
    current = time.time() if now is None else now
    if signed_at > current + CLOCK_SKEW_SECONDS:
        raise TelegramAuthInvalid("auth_date is in the future.")
    if current - signed_at > max_age:
        raise TelegramAuthExpired()


def _check_hash(supplied: object, expected: str) -> None:
    if not isinstance(supplied, str) or not hmac.compare_digest(supplied.lower().encode(), expected.encode()):
        raise TelegramAuthInvalid()


def verify_widget(
    fields: Mapping[str, object], *, bot_token: str, max_age: int, now: float | None = None
) -> TelegramIdentity:
    """Return the identity in a Login Widget payload, or raise 401 errors."""
    signed = {k: v for k, v in fields.items() if v is not None}
    _check_hash(signed.get("hash"), widget_hash(signed, bot_token))
    _check_date(signed.get("auth_date"), max_age=max_age, now=now)
    return TelegramIdentity(
        id=int(signed["id"]),
        first_name=str(signed.get("first_name", "")),
        last_name=str(signed.get("last_name", "")),
        username=str(signed.get("username", "")),
        photo_url=str(signed.get("photo_url", "")),
    )


def verify_webapp_init_data(
    init_data: str, *, bot_token: str, max_age: int, now: float | None = None
) -> TelegramIdentity:
    """Return the user in a Mini App's raw ``initData`` query string, or raise 401 errors."""
    fields = dict(parse_qsl(init_data, keep_blank_values=True, strict_parsing=False))
    # Newer clients add an Ed25519 "signature" for third parties; it is part
    # of the data-check string for the bot-token hash like any other field.
    _check_hash(fields.get("hash"), webapp_hash(fields, bot_token))
    _check_date(fields.get("auth_date"), max_age=max_age, now=now)
    try:
        user = json.loads(fields["user"])
        return TelegramIdentity(
            id=int(user["id"]),
            first_name=str(user.get("first_name", "")),
            last_name=str(user.get("last_name", "")),
            username=str(user.get("username", "")),
            photo_url=str(user.get("photo_url", "")),
        )
    except (KeyError, TypeError, ValueError):
        raise TelegramAuthInvalid("initData carries no valid user.") from None
