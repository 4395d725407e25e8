"""
Notifications: the single way any app tells one person (or a list of
people) something. ``notify`` stores the in-app rows, pushes them to the
people's sockets and sends their Telegram copies; it depends on no domain
app but ``users``. Broadcasts to audience segments live in ``broadcasts``,
above the apps whose people they count.

The contract of ``notify``: call it inside the transaction that makes the
news true. It writes in that transaction and sends nothing (no socket push,
no Telegram task) before it commits, and nothing at all if it rolls back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.fields import DateTimeField

from ibw.tasks import enqueue, enqueue_on_commit
from integrations import telegram
from notifications import delivery, tasks
from notifications.models import Channel, DeliveryState, Notification, NotificationKind, TelegramDelivery
from notifications.realtime import publish_to_users, user_group
from notifications.serializers import NotificationSerializer
from users.models import User

TITLE_MAX = Notification._meta.get_field("title").max_length or 200
# The sweep retries at most this many due Telegram copies per run.
RETRY_BATCH = 1000


def cut(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters long, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def store_in_app(
    user_ids: list[int],
    *,
    kind: NotificationKind,
    title: str,
    body: str = "",
    data: dict | None = None,
    publish: bool = True,
) -> list[Notification]:
    """
    Create one in-app notification per user id (``title`` cut to the
    column) and push each to its owner's sockets once the current
    transaction commits. The in-app half of ``notify``, for callers that
    make their own Telegram deliveries (broadcast batches). With ``publish``
    false nothing is pushed: the caller sends ``socket_pushes(...)`` itself
    (with ``realtime.send_now``, to count what the layer refused).
    """
    if kind not in NotificationKind.values:
        raise ValueError(f"Unknown notification kind {kind!r}: add it to the API contract and NotificationKind.")
    title = cut(title, TITLE_MAX)
    notifications = Notification.objects.bulk_create(
        [Notification(user_id=user_id, kind=kind, title=title, body=body, data=data or {}) for user_id in user_ids]
    )
    if publish:
        publish_to_users(_payloads(notifications))
    return notifications


def store_in_app_for_pushes(
    user_ids: list[int], *, kind: NotificationKind, title: str, body: str = "", data: dict | None = None
) -> list[tuple[str, dict]]:
    """
    ``store_in_app(..., publish=False)`` for a broadcast batch, without model
    instances: on PostgreSQL one ``INSERT … SELECT unnest(ids)`` whatever the
    number of people (building and binding 500 Notification objects was most
    of a batch's time), and the socket pushes built from the values it wrote
    (the same payload ``NotificationSerializer`` gives; a test compares them).
    Returns the ``(group, message)`` pairs for ``realtime.send_now``.
    """
    if kind not in NotificationKind.values:
        raise ValueError(f"Unknown notification kind {kind!r}: add it to the API contract and NotificationKind.")
    if not user_ids:
        return []
    title, data, now = cut(title, TITLE_MAX), data or {}, timezone.now()
    if connection.vendor != "postgresql":
        return socket_pushes(store_in_app(user_ids, kind=kind, title=title, body=body, data=data, publish=False))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Notification._meta.db_table} (user_id, kind, title, body, data, created_at) "  # noqa: S608
            "SELECT recipient, %s, %s, %s, %s::jsonb, %s FROM unnest(%s::bigint[]) AS recipient RETURNING id, user_id",
            [kind, title, body, json.dumps(data), now, list(user_ids)],
        )
        written = cursor.fetchall()
    created_at = _DATETIME.to_representation(now)
    fields = {"kind": str(kind), "title": title, "body": body, "data": data, "created_at": created_at, "read_at": None}
    return [_push(user_id, _payload({"id": notification_id, **fields})) for notification_id, user_id in written]


_DATETIME = DateTimeField()


def socket_pushes(notifications: list[Notification]) -> list[tuple[str, dict]]:
    """The ``(group, message)`` pairs that push ``notifications`` to their owners' sockets (for ``send_now``)."""
    return [_push(user_id, payload) for user_id, payload in _payloads(notifications)]


def _push(user_id: int, payload: dict) -> tuple[str, dict]:
    """The ``(group, message)`` that puts ``payload`` on the sockets of user ``user_id``."""
    return user_group(user_id), {"type": "push", "payload": payload}


def _payload(notification: dict) -> dict:
    """What a socket receives for a notification (rendered as REST renders it)."""
    return {"type": "notification", "notification": notification}


def _payloads(notifications: list[Notification]) -> list[tuple[int, dict]]:
    rendered = NotificationSerializer(notifications, many=True).data
    return [(n.user_id, _payload(dict(item))) for n, item in zip(notifications, rendered, strict=True)]


def notify(
    users: User | Iterable[User],
    *,
    kind: NotificationKind,
    title: str,
    body: str = "",
    data: dict | None = None,
    channels: Iterable[str] | None = None,
) -> list[Notification]:
    """
    Tell ``users`` something: store an in-app notification for each (always:
    REST is the truth; ``title`` cut to 200 characters), push it to their
    sockets after commit, and, when ``channels`` includes ``telegram`` (the
    default ``None`` does), send it on Telegram to those who can receive it
    (chat linked, ``notify_telegram`` on, bot not blocked) from a Celery
    task enqueued on commit. ``data`` names what it is about with the
    contract's keys (``conference`` slug, ``session``, ``event``, ``quest``,
    ``task``, ``submission``, ``connection``, ``meeting``, ``broadcast``,
    ``chat``, ``upload``, ``user`` ids).

    Call it inside the caller's transaction: nothing leaves the process
    before it commits, and nothing does if it rolls back. Broker down: the
    Telegram rows stay pending and the beat sweep sends them later.
    """
    recipients = [users] if isinstance(users, User) else list(users)
    if not recipients:
        return []
    wanted = {Channel.IN_APP, Channel.TELEGRAM} if channels is None else set(channels)
    with transaction.atomic():
        notifications = store_in_app([u.pk for u in recipients], kind=kind, title=title, body=body, data=data)
        if Channel.TELEGRAM in wanted and telegram.is_enabled():
            rows = TelegramDelivery.objects.bulk_create(
                [
                    TelegramDelivery(user=u, notification=n, channel=Channel.TELEGRAM)
                    for u, n in zip(recipients, notifications, strict=True)
                    if u.can_receive_telegram
                ]
            )
            if rows:
                enqueue_on_commit(tasks.send_telegram_deliveries_task, delivery_ids=[d.pk for d in rows])
    return notifications


def mark_notification_read(notification: Notification) -> Notification:
    """Mark ``notification`` read (idempotent: the first read time stays)."""
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.refresh_from_db(fields=["read_at"])
    return notification


def mark_all_read(user: User) -> int:
    """Mark every unread notification of ``user`` read; return how many changed."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


# --- the Telegram copies of notify -------------------------------------------------------


def _copies(delivery_ids: list[int]) -> QuerySet[TelegramDelivery]:
    return TelegramDelivery.objects.filter(pk__in=delivery_ids)


def send_telegram_deliveries(delivery_ids: list[int], *, budget_seconds: float = 10.0) -> delivery.LaneResult:
    """Send the due Telegram copies among ``delivery_ids`` (see ``notifications.delivery`` for the row states)."""
    return delivery.send_telegram_rows(_copies(delivery_ids), related=("notification",), budget_seconds=budget_seconds)


def next_retry_in(delivery_ids: list[int]) -> float | None:
    """Seconds until the earliest pending retry among ``delivery_ids``, or ``None``."""
    return delivery.next_retry_in(_copies(delivery_ids))


def settle_stale_deliveries() -> int:
    """Report Telegram copies cut off mid-request by a crash as failed (outcome unknown); return how many."""
    return delivery.settle_stale(TelegramDelivery.objects.all())


def retry_due_deliveries() -> int:
    """
    Enqueue one task for the Telegram copies that are due (a retry's time
    came, a task was lost, or the broker was down when ``notify`` committed);
    return how many. Idempotent: the task claims its rows. Called by the
    beat sweep outside any transaction, so it enqueues at once.
    """
    due_ids = list(
        TelegramDelivery.objects.filter(delivery.due(timezone.now()), state=DeliveryState.PENDING)
        .order_by("id")
        .values_list("pk", flat=True)[:RETRY_BATCH]
    )
    if due_ids:
        enqueue(tasks.send_telegram_deliveries_task, delivery_ids=due_ids)
    return len(due_ids)
