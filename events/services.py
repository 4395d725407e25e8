"""
Writes for side events: create, edit, RSVP with a waitlist, check-in.

Locking contract: every change to an event's RSVPs locks the event row
(``SELECT … FOR UPDATE``) first and updates ``going_count`` /
``waitlist_count`` in the same transaction, so concurrent RSVPs are
serialized per event: the counts stay exact and the last seat goes to one
person only.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from conferences.selectors import attendance_by_badge
from events.errors import PersonNotFound
from events.models import RSVP, Event, RSVPStatus
from notifications.models import NotificationKind
from notifications.services import notify
from users.models import User

logger = structlog.get_logger(__name__)


def _lock(event: Event) -> Event:
    return Event.objects.select_for_update().get(pk=event.pk)


def _has_room(event: Event) -> bool:
    return event.capacity is None or event.going_count < event.capacity


def _promote_waitlisted(event: Event) -> list[RSVP]:
    """
    Move waitlisted people to ``going``, first come first served, while
    there is room, and notify each. The caller holds the event's lock and
    saves its counts.
    """
    promoted: list[RSVP] = []
    while _has_room(event) and event.waitlist_count > 0:
        rsvp = (
            RSVP.objects.select_related("user")
            .filter(event=event, status=RSVPStatus.WAITLISTED)
            .order_by("created_at", "id")
            .first()
        )
        if rsvp is None:
            event.waitlist_count = 0
            break
        rsvp.status = RSVPStatus.GOING
        rsvp.save(update_fields=["status"])
        event.going_count += 1
        event.waitlist_count -= 1
        promoted.append(rsvp)
        notify(
            rsvp.user,
            kind=NotificationKind.WAITLIST_PROMOTED,
            title=f"You're in: {event.title}",
            body=f"A place opened up at {event.title}, and it is yours.",
            data={"event": event.pk, "status": RSVPStatus.GOING},
        )
    return promoted


def create_event(*, host: User | None, **fields: Any) -> Event:
    """Create an event hosted by ``host`` (``None`` when the admin key creates it)."""
    event = Event(host=host, **fields)
    event.full_clean()
    event.save()
    return event


def update_event(event: Event, **fields: Any) -> Event:
    """Change an event; raising its capacity promotes waitlisted people into the new places (and notifies them)."""
    with transaction.atomic():
        event = _lock(event)
        for name, value in fields.items():
            setattr(event, name, value)
        event.full_clean()
        _promote_waitlisted(event)
        event.save()
    return event


def delete_event(event: Event) -> None:
    """Delete ``event`` and tell everyone who had RSVPed (going or waitlisted) that it is off."""
    with transaction.atomic():
        event = _lock(event)
        guests = [rsvp.user for rsvp in RSVP.objects.filter(event=event).select_related("user")]
        if guests:
            notify(
                guests,
                kind=NotificationKind.EVENT_CANCELLED,
                title=f"Cancelled: {event.title}",
                body=f"{event.title} will not take place.",
                data={"event": event.pk},
            )
        event.delete()


def rsvp_event(event: Event, *, user: User) -> tuple[RSVP, bool]:
    """
    RSVP ``user`` to ``event``: ``going`` while there is room, else
    ``waitlisted``. Return the RSVP and whether it is new; RSVPing again
    returns the existing one unchanged. Locks the event row.
    """
    with transaction.atomic():
        event = _lock(event)
        existing = RSVP.objects.filter(event=event, user=user).first()
        if existing is not None:
            return existing, False
        going = _has_room(event)
        rsvp = RSVP.objects.create(event=event, user=user, status=RSVPStatus.GOING if going else RSVPStatus.WAITLISTED)
        if going:
            event.going_count += 1
        else:
            event.waitlist_count += 1
        event.save(update_fields=["going_count", "waitlist_count", "updated_at"])
    return rsvp, True


def cancel_rsvp(event: Event, *, user: User) -> None:
    """
    Withdraw ``user``'s RSVP (nothing happens without one). A freed place
    goes to the first waitlisted person, who is notified in the same
    transaction. Locks the event row.
    """
    with transaction.atomic():
        event = _lock(event)
        rsvp = RSVP.objects.filter(event=event, user=user).first()
        if rsvp is None:
            return
        rsvp.delete()
        if rsvp.status == RSVPStatus.GOING:
            event.going_count = max(0, event.going_count - 1)
        else:
            event.waitlist_count = max(0, event.waitlist_count - 1)
        _promote_waitlisted(event)
        event.save(update_fields=["going_count", "waitlist_count", "updated_at"])


def check_in_guest(event: Event, *, user: User, by: User | None) -> RSVP:
    """
    Check ``user`` in at ``event`` at the door, recording who (``by``) and when.

    The host decides who enters: a waitlisted guest becomes ``going``, and a
    walk-in without an RSVP gets a ``going`` one, whatever the capacity.
    Idempotent: the first check-in's time and checker stay. Locks the event row.
    """
    with transaction.atomic():
        event = _lock(event)
        rsvp = RSVP.objects.filter(event=event, user=user).first()
        if rsvp is None:
            rsvp = RSVP.objects.create(event=event, user=user, status=RSVPStatus.GOING)
            event.going_count += 1
        elif rsvp.status == RSVPStatus.WAITLISTED:
            rsvp.status = RSVPStatus.GOING
            event.going_count += 1
            event.waitlist_count = max(0, event.waitlist_count - 1)
        if rsvp.checked_in_at is None:
            rsvp.checked_in_at = timezone.now()
            rsvp.checked_in_by = by
            logger.info("event_guest_checked_in", event_id=event.pk, user_id=user.pk)
        rsvp.save()
        event.save(update_fields=["going_count", "waitlist_count", "updated_at"])
    return rsvp


def check_in_guest_by(
    event: Event, *, badge_code: str | None = None, user_id: int | None = None, by: User | None
) -> RSVP:
    """
    Check in at ``event`` the person holding conference badge ``badge_code``
    (any conference's), else the active user ``user_id``: ``check_in_guest``
    for the host at the door, who knows one or the other.

    Raises ``BadgeNotFound`` or ``PersonNotFound`` (404) when nobody matches.
    """
    guest: User | None
    if badge_code:
        guest = attendance_by_badge(None, badge_code).user
    else:
        guest = User.objects.filter(pk=user_id, is_active=True).first() if user_id is not None else None
    if guest is None:
        raise PersonNotFound()
    return check_in_guest(event, user=guest, by=by)
