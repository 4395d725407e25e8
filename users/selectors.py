"""Reads for users."""

from __future__ import annotations

from ibw.errors import NotFound
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
