"""Reads for users."""

from __future__ import annotations

from django.db.models import Q

from ibw.errors import NotFound
from users.models import Block, Connection, ConnectionStatus, User


def access_user(user_id: int) -> User:
    """Return an active user's public profile, or raise ``NotFound``."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def active_user_by_telegram_id(telegram_id: int) -> User | None:
    """Return the active user with this Telegram id (who talks to the bot), or ``None``."""
    return User.objects.filter(telegram_id=telegram_id, is_active=True).first()


def accepted_connection_count(user: User) -> int:
    """Return how many people ``user`` is connected with (accepted, either direction)."""
    return Connection.objects.filter(Q(from_user=user) | Q(to_user=user), status=ConnectionStatus.ACCEPTED).count()


def blocked_user_ids(user: User) -> set[int]:
    """
    Return the ids of people ``user`` must not see or be seen by: those
    ``user`` blocked and those who blocked ``user`` (one query).
    """
    if user is None or not user.is_authenticated:
        return set()
    ids: set[int] = set()
    for blocker_id, blocked_id in Block.objects.filter(Q(blocker=user) | Q(blocked=user)).values_list(
        "blocker_id", "blocked_id"
    ):
        ids.add(blocked_id if blocker_id == user.pk else blocker_id)
    return ids


def connections_for(user: User, *, status: str | None = None, direction: str | None = None):
    """
    Return ``user``'s connections and requests, newest first, with both
    people loaded (constant query count for lists). Declined requests are
    hidden from both sides. ``status``: ``pending`` or ``accepted``;
    ``direction``: ``incoming`` (others asked ``user``) or ``outgoing``.
    """
    if direction == "incoming":
        qs = Connection.objects.filter(to_user=user)
    elif direction == "outgoing":
        qs = Connection.objects.filter(from_user=user)
    else:
        qs = Connection.objects.filter(Q(from_user=user) | Q(to_user=user))
    qs = qs.filter(status=status) if status else qs.exclude(status=ConnectionStatus.DECLINED)
    return qs.select_related("from_user", "to_user").order_by("-created_at", "-id")


def access_connection(user: User, connection_id: int):
    """Return a connection ``user`` is part of (not one declined), or raise ``NotFound``."""
    connection = connections_for(user).filter(pk=connection_id).first()
    if connection is None:
        raise NotFound("No such connection.")
    return connection


def connected_user_ids(user: User) -> set[int]:
    """Return the ids of everyone with a connection row with ``user``, whatever its status (one query)."""
    ids: set[int] = set()
    for from_id, to_id in Connection.objects.filter(Q(from_user=user) | Q(to_user=user)).values_list(
        "from_user_id", "to_user_id"
    ):
        ids.add(to_id if from_id == user.pk else from_id)
    return ids
