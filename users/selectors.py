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


def accepted_connection_count(user: User) -> int:
    """Return how many people ``user`` is connected with (accepted, either direction)."""
    from django.db.models import Q

    from users.models import Connection, ConnectionStatus

    return Connection.objects.filter(Q(from_user=user) | Q(to_user=user), status=ConnectionStatus.ACCEPTED).count()
