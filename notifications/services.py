"""
Notifications: the single way any app tells people something.

Other apps call ``notify``; this app decides the channels (in-app row,
WebSocket push, Telegram) and does the fan-out.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from notifications.models import Notification
from notifications.realtime import publish_to_user
from users.models import User


def serialize_notification(notification: Notification) -> dict:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
        "read_at": notification.read_at.isoformat() if notification.read_at else None,
    }


def notify(
    users: User | Iterable[User],
    *,
    kind: str,
    title: str,
    body: str = "",
    data: dict | None = None,
    channels: Iterable[str] = ("in_app",),
) -> list[Notification]:
    """
    Store an in-app notification for each user and push it to their sockets
    after commit. Returns the stored notifications.
    """
    recipients = [users] if isinstance(users, User) else list(users)
    with transaction.atomic():
        notifications = Notification.objects.bulk_create(
            [Notification(user=u, kind=kind, title=title, body=body, data=data or {}) for u in recipients]
        )
        for notification in notifications:
            publish_to_user(
                notification.user_id, {"type": "notification", "notification": serialize_notification(notification)}
            )
    return notifications
