"""
Writes for connections between people, and for blocking.

One ``Connection`` row per unordered pair of people (the database's
``connection_unique_pair`` constraint decides under concurrency), whichever
side asked. Blocking is private: a blocked person sees the blocker exactly as
they would see a user who does not exist (404 ``NOT_FOUND``), so a block
never leaks.

Declined requests are kept as a row with status ``declined`` and hidden from
both people's lists. The person who declined may still ask later (the row
turns into their own pending request); the person who was declined may ask
again only after ``DECLINE_COOLDOWN`` (409 ``CONNECTION_DECLINED`` before),
and a badge scan in person always connects.

Notifications are made with ``notifications.services.notify`` inside the
same transaction: nothing leaves the process before it commits, and nothing
does if it rolls back.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from conferences.errors import BadgeNotFound
from conferences.selectors import attendance_by_badge
from connections.errors import (
    AlreadyConnected,
    CannotTargetSelf,
    ConnectionDeclined,
    ConnectionNotFound,
    UnknownPerson,
)
from connections.models import Block, Connection, ConnectionStatus
from connections.selectors import is_blocked_between, pair_q
from ibw.errors import Conflict
from notifications.models import NotificationKind
from notifications.services import notify
from users.models import User

logger = structlog.get_logger(__name__)

DECLINE_COOLDOWN = timedelta(days=30)


def _reachable_user(user: User, target_id: int) -> User:
    """Return the active user ``target_id``, or raise ``UnknownPerson`` (also when blocked either way)."""
    target = User.objects.filter(pk=target_id, is_active=True).first()
    if target is None or is_blocked_between(user.pk, target.pk):
        raise UnknownPerson()
    return target


def _notify_request(connection: Connection) -> None:
    sender = connection.from_user
    notify(
        connection.to_user,
        kind=NotificationKind.CONNECTION_REQUEST,
        title=f"{sender.get_display_name()} wants to connect",
        body=connection.message,
        data={"connection": connection.pk, "user": sender.pk},
    )


def _notify_accepted(connection: Connection, *, by: User, other: User, in_person: bool = False) -> None:
    title = (
        f"You met {by.get_display_name()}: you are now connected"
        if in_person
        else f"{by.get_display_name()} accepted your request"
    )
    notify(
        other,
        kind=NotificationKind.CONNECTION_ACCEPTED,
        title=title,
        body="",
        data={"connection": connection.pk, "user": by.pk},
    )


def _locked_pair(a_id: int, b_id: int) -> Connection | None:
    return Connection.objects.select_for_update().filter(pair_q(a_id, b_id)).first()


def _insert_or_existing(**fields) -> tuple[Connection | None, bool]:
    """
    Insert a connection; when the pair exists already (a concurrent request
    from either side won the unique constraint), return the now-locked
    existing row instead. Must run inside ``transaction.atomic``.
    """
    try:
        with transaction.atomic():
            return Connection.objects.create(**fields), True
    except IntegrityError:
        # PostgreSQL made this INSERT wait for the other transaction and it
        # committed: the row is visible to a new statement (READ COMMITTED).
        existing = _locked_pair(fields["from_user"].pk, fields["to_user"].pk)
        if existing is None:
            raise
        return existing, False


def request_connection(user: User, *, to_user_id: int, message: str = "") -> tuple[Connection, bool]:
    """
    Ask ``to_user_id`` to connect; return ``(connection, created)``.

    ``created`` is true for a new pending request (201). When the other person
    had already asked, their request is accepted instead and ``created`` is
    false (200, status ``accepted``). Raises ``CannotTargetSelf`` (400),
    ``UnknownPerson`` (404; also when either blocked the other),
    ``AlreadyConnected`` (409: already accepted, or already asked the same
    way) and ``ConnectionDeclined`` (409, within ``DECLINE_COOLDOWN`` of the
    other person declining this user's request).

    Concurrent requests between the same two people, either way round, end
    in one row: the loser of the unique constraint re-reads the winner's row
    under a lock and applies the same rules (so A→B and B→A at the same
    moment end accepted). The other person is notified (sent on commit).
    """
    if to_user_id == user.pk:
        raise CannotTargetSelf("to_user", "You cannot connect with yourself.")
    target = _reachable_user(user, to_user_id)
    with transaction.atomic():
        connection = _locked_pair(user.pk, target.pk)
        created = False
        if connection is None:
            connection, created = _insert_or_existing(
                from_user=user, to_user=target, message=message, status=ConnectionStatus.PENDING
            )
        if created:
            _notify_request(connection)
            return connection, True
        return _request_existing(connection, user=user, target=target, message=message)


def _request_existing(connection: Connection, *, user: User, target: User, message: str) -> tuple[Connection, bool]:
    now = timezone.now()
    if connection.status == ConnectionStatus.ACCEPTED:
        raise AlreadyConnected()
    asked_by_me = connection.from_user_id == user.pk
    if connection.status == ConnectionStatus.PENDING:
        if asked_by_me:
            raise AlreadyConnected("You already asked; the request is waiting for an answer.")
        connection.status = ConnectionStatus.ACCEPTED
        connection.responded_at = now
        connection.save(update_fields=["status", "responded_at"])
        _notify_accepted(connection, by=user, other=target)
        return connection, False
    # Declined: the decliner may change their mind at any time; the declined
    # person may ask again only after the cooldown.
    if asked_by_me and connection.responded_at and connection.responded_at > now - DECLINE_COOLDOWN:
        raise ConnectionDeclined()
    connection.from_user = user
    connection.to_user = target
    connection.status = ConnectionStatus.PENDING
    connection.message = message
    connection.met_in_person = False
    connection.created_at = now
    connection.responded_at = None
    connection.save()
    _notify_request(connection)
    return connection, True


def scan_badge(user: User, *, badge_code: str) -> tuple[Connection, bool]:
    """
    Connect ``user`` with the owner of a conference badge, met in person;
    return ``(connection, newly_connected)``.

    Accepted at once, whatever the pair's previous state (a pending request
    either way, or a declined one: showing a badge is consent). Scanning
    again is harmless (``newly_connected`` false, 200). Raises
    ``BadgeNotFound`` (404; also when either blocked the other, so a block
    never shows) and ``CannotTargetSelf`` (400, one's own badge).
    """
    owner = attendance_by_badge(None, badge_code).user
    if owner.pk == user.pk:
        raise CannotTargetSelf("badge_code", "This is your own badge.")
    if not owner.is_active or is_blocked_between(user.pk, owner.pk):
        raise BadgeNotFound()
    now = timezone.now()
    with transaction.atomic():
        connection = _locked_pair(user.pk, owner.pk)
        if connection is None:
            connection, created = _insert_or_existing(
                from_user=user, to_user=owner, status=ConnectionStatus.ACCEPTED, met_in_person=True, responded_at=now
            )
            if created:
                _notify_accepted(connection, by=user, other=owner, in_person=True)
                return connection, True
        if connection.status == ConnectionStatus.ACCEPTED:
            if not connection.met_in_person:
                connection.met_in_person = True
                connection.save(update_fields=["met_in_person"])
            return connection, False
        connection.status = ConnectionStatus.ACCEPTED
        connection.met_in_person = True
        connection.responded_at = now
        connection.save(update_fields=["status", "met_in_person", "responded_at"])
        _notify_accepted(connection, by=user, other=owner, in_person=True)
        return connection, True


def _incoming_locked(user: User, connection_id: int) -> Connection:
    connection = (
        Connection.objects.select_for_update()
        .select_related("from_user", "to_user")
        .filter(pk=connection_id, to_user=user)
        .first()
    )
    if connection is None:
        raise ConnectionNotFound()
    return connection


def accept_connection(user: User, *, connection_id: int) -> Connection:
    """
    Accept a request made to ``user`` (also one declined earlier: people
    change their minds). Only the recipient may: anyone else, the sender
    included, gets ``ConnectionNotFound``. Accepting twice is harmless; the
    sender is notified once, after commit.
    """
    with transaction.atomic():
        connection = _incoming_locked(user, connection_id)
        if connection.status != ConnectionStatus.ACCEPTED:
            connection.status = ConnectionStatus.ACCEPTED
            connection.responded_at = timezone.now()
            connection.save(update_fields=["status", "responded_at"])
            _notify_accepted(connection, by=user, other=connection.from_user)
    return connection


def decline_connection(user: User, *, connection_id: int) -> Connection:
    """
    Decline a pending request made to ``user``; the sender is not notified.
    Only the recipient may (others get ``ConnectionNotFound``). Declining
    twice is harmless; an accepted connection cannot be declined (409
    ``CONFLICT``): remove it instead.
    """
    with transaction.atomic():
        connection = _incoming_locked(user, connection_id)
        if connection.status == ConnectionStatus.ACCEPTED:
            raise Conflict("You are connected; remove the connection instead.")
        if connection.status == ConnectionStatus.PENDING:
            connection.status = ConnectionStatus.DECLINED
            connection.responded_at = timezone.now()
            connection.save(update_fields=["status", "responded_at"])
    return connection


def remove_connection(user: User, *, connection_id: int) -> None:
    """
    Delete a connection or request ``user`` is part of (withdraw, unfriend).
    Anyone else gets ``ConnectionNotFound``.

    A declined request withdrawn by its sender answers the same but the row
    stays until the cooldown has passed: withdrawing must not reset it.
    """
    connection = Connection.objects.filter(Q(from_user=user) | Q(to_user=user), pk=connection_id).first()
    if connection is None:
        raise ConnectionNotFound()
    if connection.status == ConnectionStatus.DECLINED and connection.from_user_id == user.pk:
        return
    Connection.objects.filter(pk=connection.pk).delete()


def block_user(user: User, *, target_id: int) -> tuple[Block, bool]:
    """
    Block ``target_id``; return ``(block, created)``. Removes any connection
    or request between the two in the same transaction. Blocking twice is
    harmless. Raises ``CannotTargetSelf`` and ``UnknownPerson``.
    """
    if target_id == user.pk:
        raise CannotTargetSelf("user", "You cannot block yourself.")
    target = User.objects.filter(pk=target_id, is_active=True).first()
    if target is None:
        raise UnknownPerson()
    with transaction.atomic():
        try:
            with transaction.atomic():
                block, created = Block.objects.get_or_create(blocker=user, blocked=target)
        except IntegrityError:
            # The same block, made concurrently (a double tap).
            block, created = Block.objects.get(blocker=user, blocked=target), False
        Connection.objects.filter(pair_q(user.pk, target.pk)).delete()
    logger.info("user_blocked", blocker=user.pk, blocked=target.pk, created=created)
    return block, created


def unblock_user(user: User, *, target_id: int) -> None:
    """Lift ``user``'s block of ``target_id``; harmless when there is none. Unknown users raise ``UnknownPerson``."""
    if not User.objects.filter(pk=target_id).exists():
        raise UnknownPerson()
    Block.objects.filter(blocker=user, blocked_id=target_id).delete()
