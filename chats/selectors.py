"""Reads of chat links: who sees which chats, and who is let into them."""

from __future__ import annotations

from django.db.models import QuerySet

from chats.models import ChatLink, ChatPurpose, ChatStatus, InviteLink
from conferences.models import Attendance, Conference, ConferenceOrganizer
from events.models import RSVP, Event, RSVPStatus
from ibw.errors import NotFound
from users.models import User


def chats_of(owner: Conference | Event) -> QuerySet[ChatLink]:
    """The chats linked to a conference or an event, oldest first."""
    if isinstance(owner, Conference):
        return ChatLink.objects.filter(conference=owner).order_by("created_at", "pk")
    return ChatLink.objects.filter(event=owner).order_by("created_at", "pk")


def access_chat(owner: Conference | Event, chat_pk: int) -> ChatLink:
    """The chat link ``chat_pk`` of ``owner``, or ``NotFound``."""
    link = chats_of(owner).filter(pk=chat_pk).first()
    if link is None:
        raise NotFound("No such chat.")
    return link


def is_registered(user: User | None, conference: Conference) -> bool:
    return bool(user and Attendance.objects.filter(conference=conference, user=user).exists())


def rsvp_status(user: User | None, event: Event) -> str | None:
    if user is None:
        return None
    return RSVP.objects.filter(event=event, user=user).values_list("status", flat=True).first()


def invite_links_of(user: User, chat_ids: list[int]) -> dict[int, str]:
    """``{chat link id: invite link}`` of ``user``'s live links among ``chat_ids`` (one query)."""
    rows = InviteLink.objects.filter(user=user, chat_id__in=chat_ids, revoked_at__isnull=True).exclude(invite_link="")
    return dict(rows.values_list("chat_id", "invite_link"))


def may_join(link: ChatLink, user: User | None) -> bool:
    """Whether ``user`` belongs in ``link``'s chat: registered for its conference, or ``going`` to its event."""
    if user is None or not user.is_active:
        return False
    if link.conference_id is not None:
        return Attendance.objects.filter(conference_id=link.conference_id, user=user).exists()
    return RSVP.objects.filter(event=link.event, user=user, status=RSVPStatus.GOING).exists()


def announcement_chats(conference_id: int) -> QuerySet[ChatLink]:
    """The active announcements chats of a conference (where broadcasts and schedule changes are posted)."""
    return ChatLink.objects.filter(
        conference_id=conference_id, purpose=ChatPurpose.ANNOUNCEMENTS, status=ChatStatus.ACTIVE
    ).order_by("pk")


def organizers_to_tell(link: ChatLink) -> list[User]:
    """Who hears that a chat was unlinked: the co-organizers (or the event's host) and every ``is_staff`` user."""
    people = {u.pk: u for u in User.objects.filter(is_staff=True, is_active=True)}
    if link.conference_id is not None:
        for row in ConferenceOrganizer.objects.filter(conference_id=link.conference_id).select_related("user"):
            people.setdefault(row.user_id, row.user)
    elif link.event is not None and link.event.host is not None:
        people.setdefault(link.event.host.pk, link.event.host)
    return [people[pk] for pk in sorted(people)]
