"""
Co-organizers: people who may do, for one conference only, what an admin
does on that conference's paths (contract: ``…/conferences/{slug}/organizers/``).

Writes (``add_organizer``, ``remove_organizer``), the reads other apps ask
(``organizes``, ``managed_conference_ids``), the checks views use
(``CanManageConference``, ``ReadPublicWriteManager``, ``IsAdminOrCoOrganizer``,
``check_manages``) and Django admin's scoping (``conferences.admin_scope``).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from rest_framework import exceptions, permissions
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


def managed_conference_ids(user: User) -> list[int]:
    """The ids of the conferences ``user`` co-organizes (empty for anyone else). One query."""
    if not (user and user.is_authenticated):
        return []
    return list(ConferenceOrganizer.objects.filter(user=user).values_list("conference_id", flat=True))


def managed_conference_slugs(user: User) -> list[str]:
    """The slugs of the conferences ``user`` co-organizes (for rows that name a conference by slug)."""
    if not (user and user.is_authenticated):
        return []
    return list(ConferenceOrganizer.objects.filter(user=user).values_list("conference__slug", flat=True))


def organizes_any(user: User) -> bool:
    """Whether ``user`` co-organizes at least one conference. One query."""
    return bool(user and user.is_authenticated) and ConferenceOrganizer.objects.filter(user=user).exists()


def may_manage(request: Request, conference: Conference) -> bool:
    """An admin, or a co-organizer of ``conference``: for checks on a conference named in a body."""
    return is_admin(request) or organizes(request.user, conference)


def check_manages(request: Request, *, conference_id: int | None = None, slug: str | None = None) -> None:
    """
    Refuse (403 ``PERMISSION_DENIED``) unless the caller is an admin or
    co-organizes the conference given by id or slug. Nothing given means "no
    conference" (a global quest, a broadcast to everyone): admins only.
    """
    if is_admin(request):
        return
    if conference_id is None and not slug:
        raise exceptions.PermissionDenied("Only admins may do this for every conference at once.")
    user = request.user
    if user.is_authenticated:
        rows = ConferenceOrganizer.objects.filter(user=user)
        rows = (
            rows.filter(conference_id=conference_id)
            if conference_id is not None
            else rows.filter(conference__slug=slug)
        )
        if rows.exists():
            return
    raise exceptions.PermissionDenied(CanManageConference.message)


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


class ReadPublicWriteManager(CanManageConference):
    """Anyone reads; admins and the URL's conference's co-organizers write."""

    def has_permission(self, request: Request, view) -> bool:
        return request.method in permissions.SAFE_METHODS or super().has_permission(request, view)


class IsAdminOrCoOrganizer(permissions.BasePermission):
    """
    An admin, or anyone who co-organizes some conference: for paths that name
    no conference in the URL (reviews, broadcasts). The view then scopes its
    rows with ``managed_conference_ids`` and checks a named conference with
    ``check_manages``.
    """

    message = "Only admins and conference organizers may do this."

    def has_permission(self, request: Request, view) -> bool:
        return is_admin(request) or organizes_any(request.user)
