"""
Writes for side events: create, edit, RSVP with a waitlist, check-in.

Locking contract: every change to an event's RSVPs locks the event row
(``SELECT … FOR UPDATE``) first and updates ``going_count`` /
``waitlist_count`` in the same transaction, so concurrent RSVPs are
serialized per event: the counts stay exact and the last seat goes to one
person only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conferences.selectors import attendance_by_badge
from events.errors import PersonNotFound
from events.models import RSVP, Event, EventMessage, RSVPStatus
from ibw.errors import RateLimited
from notifications.models import NotificationKind
from notifications.services import notify
from users.models import User

logger = structlog.get_logger(__name__)

# A host may message an event's guests this many times in any 24 hours.
MESSAGES_PER_DAY = 5
_WATCHED = ("starts_at", "ends_at", "location")


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
    """
    Change an event; raising its capacity promotes waitlisted people into the
    new places (and notifies them). A change of ``starts_at``, ``ends_at`` or
    ``location`` notifies everyone going or waitlisted (``event_changed``,
    the change in ``data.changes`` and in words). Locks the event row.
    """
    with transaction.atomic():
        event = _lock(event)
        before = {name: getattr(event, name) for name in _WATCHED}
        for name, value in fields.items():
            setattr(event, name, value)
        event.full_clean()
        _promote_waitlisted(event)
        event.save()
        changed = {
            name: [before[name], getattr(event, name)] for name in _WATCHED if before[name] != getattr(event, name)
        }
        if changed:
            _tell_guests_of_change(event, changed)
    return event


def _zone(event: Event) -> ZoneInfo:
    return ZoneInfo(event.conference.timezone if event.conference is not None else settings.TIME_ZONE)


def _tell_guests_of_change(event: Event, changed: dict[str, list]) -> None:
    guests = [rsvp.user for rsvp in RSVP.objects.filter(event=event).select_related("user").order_by("id")]
    if not guests:
        return
    zone = _zone(event)
    parts = []
    if "starts_at" in changed or "ends_at" in changed:
        starts = timezone.localtime(event.starts_at, zone)
        ends = timezone.localtime(event.ends_at, zone)
        parts.append(f"now {starts:%a %d %b, %H:%M}–{ends:%H:%M}")
    if "location" in changed:
        parts.append(f"now at {event.location}" if event.location else "no longer has a location")
    notify(
        guests,
        kind=NotificationKind.EVENT_CHANGED,
        title=f"Changed: {event.title}",
        body=f"{event.title} is {', '.join(parts)}.",
        data={
            "event": event.pk,
            "changes": {
                name: [v.isoformat() if hasattr(v, "isoformat") else v for v in values]
                for name, values in changed.items()
            },
        },
    )


def message_guests(event: Event, *, sender: User | None, text: str, include_waitlist: bool = False) -> int:
    """
    Send the host's ``text`` to everyone going (and waitlisted when
    ``include_waitlist``) as an ``event_message`` notification; return how
    many people it went to. At most ``MESSAGES_PER_DAY`` per event in any 24
    hours, counted under the event row's lock so racing requests cannot pass
    it; beyond that ``RateLimited`` (429 with ``Retry-After``).
    """
    with transaction.atomic():
        event = _lock(event)
        now = timezone.now()
        recent = list(
            EventMessage.objects.filter(event=event, created_at__gt=now - timedelta(days=1))
            .order_by("created_at")
            .values_list("created_at", flat=True)
        )
        if len(recent) >= MESSAGES_PER_DAY:
            retry_after = (recent[-MESSAGES_PER_DAY] + timedelta(days=1) - now).total_seconds()
            raise RateLimited(
                f"This event's guests have had {MESSAGES_PER_DAY} messages in the last 24 hours.",
                retry_after=int(retry_after) + 1,
            )
        statuses = [RSVPStatus.GOING, RSVPStatus.WAITLISTED] if include_waitlist else [RSVPStatus.GOING]
        guests = [
            rsvp.user
            for rsvp in RSVP.objects.filter(event=event, status__in=statuses).select_related("user").order_by("id")
        ]
        EventMessage.objects.create(
            event=event, sender=sender, text=text, include_waitlist=include_waitlist, recipients=len(guests)
        )
        notify(
            guests,
            kind=NotificationKind.EVENT_MESSAGE,
            title=f"{event.title}: a message from the host",
            body=text,
            data={"event": event.pk},
        )
    logger.info("event_message_sent", event_id=event.pk, recipients=len(guests))
    return len(guests)


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
