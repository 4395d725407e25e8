"""The data export: everything stored about a person, read through ``privacy.registry``."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils import timezone

from privacy.registry import EXTRAS, HOLDINGS, Holding
from users.models import User

EXPORT_FORMAT = "ibw-export/1"
# Secrets and internals that are not "data about the person".
_PROFILE_EXCLUDED = {"password"}


def _profile(user: User) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for field in User._meta.concrete_fields:
        if field.name in _PROFILE_EXCLUDED:
            continue
        value = getattr(user, field.attname)
        profile[field.name] = value.name if field.name == "avatar" else value
    profile["roles"] = user.get_roles()
    return profile


def _holding_rows(holding: Holding, user: User) -> list[dict[str, Any]]:
    plain = [c for c in holding.columns if "__" not in c]
    related = {c.replace("__", "_"): F(c) for c in holding.columns if "__" in c}
    rows = holding.model._default_manager.filter(**{holding.field: user}).order_by("pk")
    return list(rows.values(*plain, **related))


def export_user(user: User) -> dict[str, Any]:
    """
    Return one JSON-ready document of everything stored about ``user``: the
    profile, then one list per registry section (attendance, bookmarks,
    RSVPs, submissions, points, connections, meetings, questions, feedback,
    notifications, ...), every section present even when empty. One query
    per registry entry, whatever the amount of data.
    """
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now(),
        "user_id": user.pk,
        "profile": _profile(user),
    }
    sections: dict[str, list[dict[str, Any]]] = {}
    for holding in HOLDINGS:
        sections.setdefault(holding.section, []).extend(_holding_rows(holding, user))
    for extra in EXTRAS:
        sections.setdefault(extra.section, []).extend(extra.export(user))
    document.update(sections)
    return document
