"""Reads for users."""

from __future__ import annotations

from typing import Any

from ibw.errors import NotFound, ServiceUnavailable
from integrations import telegram_oidc
from integrations.errors import OidcFailed
from users.models import User


def access_user(user_id: int) -> User:
    """Return an active user's public profile, or raise ``NotFound``."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def active_user_by_telegram_id(telegram_id: int) -> User | None:
    """Return the active user with this Telegram id (who talks to the bot), or ``None``."""
    return User.objects.filter(telegram_id=telegram_id, is_active=True).first()


def oidc_client_config() -> dict[str, Any]:
    """``{"issuer", "client_id", "authorization_endpoint", "scopes"}`` for Telegram OIDC; 503 when the issuer is unreachable."""
    try:
        return telegram_oidc.client_config()
    except OidcFailed as exc:
        raise ServiceUnavailable(f"Telegram's OpenID Connect issuer is unavailable: {exc.reason}") from None
