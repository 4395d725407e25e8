"""
Co-organizers: people who may do, for one conference only, what an admin
does on that conference's paths (contract: ``…/conferences/{slug}/organizers/``).

Writes (``add_organizer``, ``remove_organizer``), the read other apps ask
(``organizes``), and the permission views use (``CanManageConference``).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from rest_framework import permissions
from rest_framework.request import Request

from conferences.models import Conference, ConferenceOrganizer
from ibw.api import is_admin
from users.models import User


def organizers_for(conference: Conference) -> QuerySet[ConferenceOrganizer]:
    return conference.organizers.select_related("user").order_by("added_at", "pk")


def organizes(user: User, conference: Conference | None = None, *, slug: str | None = None) -> bool:
    """Whether ``user`` co-organizes the conference (given as an object or by slug). One query."""
    if not (user and user.is_authenticated):
        return False
    rows = ConferenceOrganizer.objects.filter(user=user)
    rows = rows.filter(conference=conference) if conference is not None else rows.filter(conference__slug=slug)
    return rows.exists()


def may_manage(request: Request, conference: Conference) -> bool:
    """An admin, or a co-organizer of ``conference``: for checks on a conference named in a body."""
    return is_admin(request) or organizes(request.user, conference)


def add_organizer(conference: Conference, *, user: User) -> tuple[ConferenceOrganizer, bool]:
    """
    Make ``user`` a co-organizer of ``conference``; return the row and whether it is new.

    Idempotent under races: the (conference, user) unique constraint keeps one
    row, and the loser of a race reads the winner's.
    """
    try:
        with transaction.atomic():
            return ConferenceOrganizer.objects.create(conference=conference, user=user), True
    except IntegrityError:
        return ConferenceOrganizer.objects.get(conference=conference, user=user), False


def remove_organizer(conference: Conference, *, user: User) -> bool:
    """Revoke ``user``'s co-organizer rights on ``conference``; return whether they had them."""
    deleted, _ = ConferenceOrganizer.objects.filter(conference=conference, user=user).delete()
    return deleted > 0


class CanManageConference(permissions.BasePermission):
    """
    An admin, or a co-organizer of the conference the URL names (``slug``).

    Anyone else gets 403 ``PERMISSION_DENIED``, a co-organizer of another
    conference included.
    """

    message = "Only admins and this conference's organizers may do this."

    def has_permission(self, request: Request, view) -> bool:
        if is_admin(request):
            return True
        slug = view.kwargs.get("slug")
        return bool(slug) and organizes(request.user, slug=slug)
