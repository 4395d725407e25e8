"""
Who moderates a live session. Apart from the selectors because it asks
``conferences.organizers``, which also holds the DRF permission (and so
imports the API layer that selectors and services must not reach).
"""

from __future__ import annotations

from conferences.models import Session, SessionSpeaker
from conferences.organizers import organizes
from users.models import User


def may_moderate(session: Session, *, user: User | None, is_admin: bool = False) -> bool:
    """
    Whether the caller moderates ``session``: an admin (``is_admin``: the admin
    key or an ``is_staff`` user), a user with the ``staff`` role, a co-organizer
    of the session's conference, or a user linked to one of its speakers.
    """
    if is_admin:
        return True
    if user is None or not user.is_authenticated:
        return False
    if user.is_staff or user.has_role("staff"):
        return True
    if SessionSpeaker.objects.filter(session=session, speaker__user=user).exists():
        return True
    return organizes(user, session.conference)
