"""
Broadcast audiences: which people a segment designates. Each segment asks
the app that owns the data (``conferences``, ``events``, ``quests``
selectors); nothing here reads their models.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from broadcasts.models import Segment
from conferences import selectors as conferences
from events import selectors as events
from ibw.errors import ValidationFailed
from quests import selectors as quests
from users.models import User


def normalize_audience(audience: dict) -> dict:
    """
    Check that ``audience`` names things that exist and return it in stored
    form: ``{"segment", "conference"?: slug, "event"?: id, "quest"?: id}``.

    Segments: ``all`` is every active user, or with a conference everyone
    tied to it (registered there, or RSVP'd to one of its events);
    ``attendees`` and ``checked_in`` are a conference's attendances (any
    conference when none is given); ``event_going`` the ``going`` RSVPs of
    ``event``; ``quest_completed`` the people who completed ``quest``;
    ``session_bookmarked`` the people who bookmarked ``session`` (of
    ``conference`` when one is given).
    """
    segment = audience.get("segment")
    if segment not in Segment.values:
        raise ValidationFailed("Unknown audience segment.", details={"audience": {"segment": ["Unknown segment."]}})
    clean: dict = {"segment": segment}
    slug = audience.get("conference")
    if slug:
        if not conferences.conference_exists(slug):
            raise ValidationFailed(
                "No such conference.", details={"audience": {"conference": ["No conference with this slug."]}}
            )
        clean["conference"] = slug
    if segment == Segment.EVENT_GOING:
        event = events.event_with_conference(audience.get("event") or 0)
        if event is None:
            raise ValidationFailed(
                "No such event.", details={"audience": {"event": ["An existing event is required."]}}
            )
        if slug and (event.conference is None or event.conference.slug != slug):
            raise ValidationFailed(
                "The event is not part of this conference.",
                details={"audience": {"event": ["The event is not part of this conference."]}},
            )
        clean["event"] = event.pk
    if segment == Segment.QUEST_COMPLETED:
        if not quests.quest_exists(audience.get("quest") or 0):
            raise ValidationFailed(
                "No such quest.", details={"audience": {"quest": ["An existing quest is required."]}}
            )
        if slug and not quests.quest_in_conference(audience["quest"], slug=slug):
            raise ValidationFailed(
                "The quest is not part of this conference.",
                details={"audience": {"quest": ["The quest is not part of this conference."]}},
            )
        clean["quest"] = int(audience["quest"])
    if segment == Segment.SESSION_BOOKMARKED:
        session_slug = conferences.session_conference_slug(audience.get("session") or 0)
        if session_slug is None:
            raise ValidationFailed(
                "No such session.", details={"audience": {"session": ["An existing session is required."]}}
            )
        if slug and session_slug != slug:
            raise ValidationFailed(
                "The session is not part of this conference.",
                details={"audience": {"session": ["The session is not part of this conference."]}},
            )
        clean["session"] = int(audience["session"])
    return clean


def audience_users(audience: dict) -> QuerySet[User]:
    """Return the active users ``audience`` (as stored by ``normalize_audience``) designates."""
    users = User.objects.filter(is_active=True)
    segment = audience["segment"]
    slug = audience.get("conference")
    if segment == Segment.ALL:
        if not slug:
            return users
        return users.filter(
            Q(pk__in=conferences.attendee_user_ids(conference_slug=slug))
            | Q(pk__in=events.guest_user_ids(conference_slug=slug))
        )
    if segment == Segment.ATTENDEES:
        return users.filter(pk__in=conferences.attendee_user_ids(conference_slug=slug))
    if segment == Segment.CHECKED_IN:
        return users.filter(pk__in=conferences.attendee_user_ids(conference_slug=slug, checked_in=True))
    if segment == Segment.EVENT_GOING:
        return users.filter(pk__in=events.guest_user_ids(event_id=audience["event"], going_only=True))
    if segment == Segment.QUEST_COMPLETED:
        return users.filter(pk__in=quests.users_who_completed(audience["quest"]).values("pk"))
    if segment == Segment.SESSION_BOOKMARKED:
        return users.filter(pk__in=conferences.bookmarker_user_ids(audience["session"]))
    raise ValidationFailed("Unknown audience segment.")


def preview_audience(audience: dict) -> int:
    """Return how many people ``audience`` reaches now."""
    return audience_users(normalize_audience(audience)).count()
