"""
Invite counting, read-only: how many of a person's invitees count for an
``invite`` task at a conference. Used by the services (awarding), the
verification strategy and the selectors (``my_status`` progress).

An invitee counts at conference C for their one inviter when they are
checked in at C and registered for C after the invitation was recorded
(people already registered when invited were not brought by the inviter).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, F, QuerySet

from conferences.models import AttendanceStatus
from quests.models import Invitation


def _counted(conference_ids: Iterable[int]) -> QuerySet[Invitation]:
    # One filter() call: the three conditions apply to the same attendance row.
    return Invitation.objects.filter(
        invitee__attendances__conference_id__in=list(conference_ids),
        invitee__attendances__status=AttendanceStatus.CHECKED_IN,
        invitee__attendances__registered_at__gt=F("created_at"),
    )


def checked_in_invitee_count(inviter_id: int, *, conference_id: int) -> int:
    """How many of ``inviter_id``'s invitees count at ``conference_id`` now."""
    return _counted([conference_id]).filter(inviter_id=inviter_id).count()


def checked_in_invitee_counts(inviter_id: int, *, conference_ids: Iterable[int]) -> dict[int, int]:
    """``{conference_id: count}`` for several conferences in one query (absent: zero)."""
    rows = (
        _counted(conference_ids)
        .filter(inviter_id=inviter_id)
        .values("invitee__attendances__conference_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["invitee__attendances__conference_id"]: row["n"] for row in rows}


def inviters_reaching(conference_id: int, *, count: int) -> list[int]:
    """Ids of inviters with at least ``count`` invitees counting at ``conference_id`` (reconciliation)."""
    return list(
        _counted([conference_id])
        .values("inviter_id")
        .annotate(n=Count("id"))
        .filter(n__gte=count)
        .order_by("inviter_id")
        .values_list("inviter_id", flat=True)
    )
