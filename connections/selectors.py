"""Reads for connections and blocks, and the attendee directory (which hides blocked people)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from conferences.models import Conference
from connections.errors import ConnectionNotFound
from connections.models import Block, Connection, ConnectionStatus
from ibw.search import full_text_search, uses_full_text
from users.models import User


def pair_q(a_id: int, b_id: int) -> Q:
    """The lookup for the one connection between two people, whichever side asked."""
    return Q(from_user_id=a_id, to_user_id=b_id) | Q(from_user_id=b_id, to_user_id=a_id)


def is_blocked_between(a_id: int, b_id: int) -> bool:
    """Return whether either person blocked the other."""
    return Block.objects.filter(Q(blocker_id=a_id, blocked_id=b_id) | Q(blocker_id=b_id, blocked_id=a_id)).exists()


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


def blocked_or_connected_user_ids(user: User) -> set[int]:
    """
    Return ``blocked_user_ids(user) | connected_user_ids(user)`` in one query
    (a UNION ALL of both tables): everyone ``user`` must not be recommended.
    """
    blocks = Block.objects.filter(Q(blocker=user) | Q(blocked=user)).values_list("blocker_id", "blocked_id")
    rows = Connection.objects.filter(Q(from_user=user) | Q(to_user=user)).values_list("from_user_id", "to_user_id")
    return {b if a == user.pk else a for a, b in blocks.union(rows, all=True)}


def connections_for(user: User, *, status: str | None = None, direction: str | None = None) -> QuerySet[Connection]:
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


def access_connection(user: User, connection_id: int) -> Connection:
    """Return a connection ``user`` is part of (not one declined), or raise ``ConnectionNotFound``."""
    connection = connections_for(user).filter(pk=connection_id).first()
    if connection is None:
        raise ConnectionNotFound()
    return connection


def connected_user_ids(user: User) -> set[int]:
    """Return the ids of everyone with a connection row with ``user``, whatever its status (one query)."""
    ids: set[int] = set()
    for from_id, to_id in Connection.objects.filter(Q(from_user=user) | Q(to_user=user)).values_list(
        "from_user_id", "to_user_id"
    ):
        ids.add(to_id if from_id == user.pk else from_id)
    return ids


def attendees_directory(conference: Conference, *, viewer: User, q: str | None = None) -> QuerySet[User]:
    """
    Return the people registered for ``conference`` who chose to be listed
    (``directory_visible``), leaving out anyone ``viewer`` blocked or who
    blocked ``viewer``; ``q`` searches names, company, job title and
    interests (``ibw.search``: by relevance on PostgreSQL, ties by name).
    """
    blocked = Block.objects.filter(blocker=viewer).values("blocked_id")
    blockers = Block.objects.filter(blocked=viewer).values("blocker_id")
    people = User.objects.filter(
        is_active=True,
        directory_visible=True,
        attendances__conference=conference,
    ).exclude(pk__in=blocked)
    people = people.exclude(pk__in=blockers)
    people = people.order_by("first_name", "last_name", "id")
    if q and q.strip():
        if uses_full_text(people):
            return full_text_search(people, q)
        people = people.filter(
            Q(first_name__icontains=q)
            | Q(last_name__icontains=q)
            | Q(display_name__icontains=q)
            | Q(username__icontains=q)
            | Q(company__icontains=q)
            | Q(job_title__icontains=q)
            | Q(interests__icontains=q)
        )
    return people
