"""Reads for users."""

from __future__ import annotations

from django.db.models import Q

from ibw.errors import NotFound
from users.models import Block, User


def access_user(user_id: int) -> User:
    """Return an active user's public profile, or raise ``NotFound``."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def accepted_connection_count(user: User) -> int:
    """Return how many people ``user`` is connected with (accepted, either direction)."""
    from users.models import Connection, ConnectionStatus

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
