"""Reads of notifications."""

from __future__ import annotations

from django.db.models import QuerySet

from ibw.errors import NotFound
from notifications.models import Notification
from users.models import User


def notifications_for(user: User, *, unread: bool = False) -> QuerySet[Notification]:
    """Return ``user``'s notifications, newest first (``unread``: only those not read)."""
    queryset = Notification.objects.filter(user=user).order_by("-created_at", "-id")
    if unread:
        queryset = queryset.filter(read_at__isnull=True)
    return queryset


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def access_notification(user: User, notification_id: int) -> Notification:
    """Return ``user``'s notification ``notification_id``; another user's is ``NotFound`` (never 403)."""
    notification = Notification.objects.filter(pk=notification_id, user=user).first()
    if notification is None:
        raise NotFound("Notification not found.")
    return notification
