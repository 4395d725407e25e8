"""
Broadcasts: a message to an audience segment (``broadcasts.audiences``)
through the same channels as ``notify``, one ``Delivery`` row per
(recipient, channel).

Delivery guarantees
-------------------
* In-app: a batch of deliveries is claimed (``select_for_update(
  skip_locked=True)``), its notifications created and the rows marked
  ``sent`` in one transaction, so each recipient gets exactly one row
  whatever crashes. After the commit the batch is pushed to the sockets in
  one pipelined send; pushes the channel layer refused are added to the
  broadcast's ``socket_refused`` (and logged): those people find the
  notification in their REST inbox.
* Telegram: parallel lanes send the rows under the global rate limit, with
  the row states of ``notifications.delivery`` (at most once for a message
  cut off mid-request; 429 pauses everyone, 403 marks the person blocked,
  5xx retries with backoff).
* A lane that dies is noticed by ``dispatch_due`` (no heartbeat for
  ``LANE_HEARTBEAT_SECONDS``) and started again; everything it triggers is
  idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from broadcasts import tasks
from broadcasts.audiences import audience_users, normalize_audience
from broadcasts.errors import BroadcastFinished
from broadcasts.models import CHANNEL_CHOICES, TELEGRAM_CHATS, Broadcast, BroadcastStatus, Delivery
from chats import services as chats
from conferences.selectors import conference_by_slug
from ibw.errors import ValidationFailed
from ibw.tasks import enqueue, enqueue_on_commit
from integrations import telegram
from notifications import delivery, realtime
from notifications import services as notifications
from notifications.models import Channel, DeliveryState, NotificationKind
from users.models import User

logger = structlog.get_logger(__name__)

IN_APP_BATCH_SIZE = 500
# A broadcast whose lanes have not reported for this long is resumed by the sweep.
LANE_HEARTBEAT_SECONDS = 10
# A queued broadcast not started after this long lost its start task (broker down): the sweep starts it.
QUEUED_GRACE_SECONDS = 10


def create_broadcast(
    *,
    title: str,
    body: str = "",
    audience: dict,
    channels: Iterable[str],
    send_at: datetime | None = None,
    created_by: User | None = None,
) -> Broadcast:
    """
    Store a broadcast: ``scheduled`` when ``send_at`` is in the future
    (started at that time by an ETA task, and by the beat sweep should the
    ETA task be lost), else ``queued`` and started on commit.
    """
    clean = normalize_audience(audience)
    wanted = [c for c, _ in CHANNEL_CHOICES if c in set(channels)]
    if not wanted:
        raise ValidationFailed("Choose at least one channel.", details={"channels": ["Choose at least one channel."]})
    if wanted == [TELEGRAM_CHATS] and not clean.get("conference"):
        raise ValidationFailed(
            "Posting into Telegram chats needs the audience's conference.",
            details={"audience": {"conference": ["Required when the only channel is telegram_chats."]}},
        )
    now = timezone.now()
    scheduled = send_at is not None and send_at > now
    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            title=title,
            body=body,
            audience=clean,
            channels=wanted,
            send_at=send_at,
            status=BroadcastStatus.SCHEDULED if scheduled else BroadcastStatus.QUEUED,
            created_by=created_by,
        )
        schedule_start(broadcast)
    return broadcast


def send_test_broadcast(*, title: str, body: str = "", to: User) -> bool:
    """
    Send a broadcast's ``title`` and ``body`` to ``to`` alone, as a recipient
    would get it: an in-app notification, and its Telegram copy when ``to``
    can receive Telegram (started the bot, notifications on, not blocked).
    Stores no broadcast and no audience delivery. Return whether a Telegram
    copy was queued (sent on commit).
    """
    with transaction.atomic():
        notifications.notify(to, kind=NotificationKind.BROADCAST, title=title, body=body, data={})
        return to.can_receive_telegram and telegram.is_enabled()


def schedule_start(broadcast: Broadcast) -> None:
    """Enqueue the start of ``broadcast`` on commit: now, or at ``send_at``. Broker down: the sweep starts it."""
    if broadcast.status == BroadcastStatus.SCHEDULED and broadcast.send_at:
        enqueue_on_commit(tasks.start_broadcast_task, eta=broadcast.send_at, broadcast_id=broadcast.pk)
    else:
        enqueue_on_commit(tasks.start_broadcast_task, broadcast_id=broadcast.pk)


def start_broadcast(broadcast_id: int) -> bool:
    """
    Expand a due ``scheduled``/``queued`` broadcast into its deliveries and
    mark it ``sending``, in one transaction (either every row exists or the
    broadcast is still waiting); enqueue its batches on commit.

    Idempotent: a broadcast already started, cancelled, or not yet due is
    left alone and ``False`` returned. Telegram rows are made only for
    people who can receive Telegram.
    """
    now = timezone.now()
    with transaction.atomic():
        broadcast = (
            Broadcast.objects.select_for_update()
            .filter(pk=broadcast_id, status__in=[BroadcastStatus.SCHEDULED, BroadcastStatus.QUEUED])
            .first()
        )
        if broadcast is None or (broadcast.send_at and broadcast.send_at > now):
            return False
        try:
            users = audience_users(broadcast.audience)
        except Exception as exc:  # the audience's data went away (event deleted, ...): report it
            broadcast.status = BroadcastStatus.FAILED
            broadcast.error = str(exc)[:500]
            broadcast.finished_at = now
            broadcast.save(update_fields=["status", "error", "finished_at"])
            return False
        for channel in broadcast.channels:
            if channel == TELEGRAM_CHATS:
                _create_chat_posts(broadcast)
                continue
            recipients = users
            if channel == Channel.TELEGRAM:
                recipients = users.filter(
                    telegram_chat_id__isnull=False, notify_telegram=True, telegram_blocked_at__isnull=True
                )
            _expand(broadcast, channel, recipients)
        broadcast.total = Delivery.objects.filter(broadcast=broadcast).count() + sum(
            chats.post_counts(_posts_source(broadcast.pk)).values()
        )
        broadcast.status = BroadcastStatus.SENDING
        broadcast.started_at = now
        broadcast.save(update_fields=["total", "status", "started_at"])
        enqueue_lanes(broadcast_id, broadcast.channels)
    if broadcast.total == 0:
        finish_broadcast_if_done(broadcast_id)
    return True


def _expand(broadcast: Broadcast, channel: str, recipients: QuerySet[User]) -> None:
    """
    Make a pending delivery row per recipient on ``channel`` in one
    ``INSERT … SELECT``: the database copies the ids, Python never holds them
    (5,000 rows built and bulk-inserted from Python took most of a second).
    A row that exists already is left alone.
    """
    select_sql, params = recipients.order_by().values("pk").query.sql_with_params()
    columns = "broadcast_id, user_id, channel, state, attempts, error"
    with connection.cursor() as cursor:
        cursor.execute(
            # Only Django's own compiled query and the model's table name are formatted in;
            # every value is a parameter. ``WHERE 1 = 1`` lets SQLite parse ON CONFLICT after a SELECT.
            f"INSERT INTO {Delivery._meta.db_table} ({columns}) "  # noqa: S608
            f"SELECT %s, recipient.pk, %s, %s, 0, '' FROM ({select_sql}) AS recipient WHERE 1 = 1 "
            "ON CONFLICT DO NOTHING",
            [broadcast.pk, channel, DeliveryState.PENDING, *params],
        )


def _posts_source(broadcast_id: int) -> str:
    return f"broadcast:{broadcast_id}"


def _create_chat_posts(broadcast: Broadcast) -> int:
    """One post per active announcements chat of the audience's conference (none without a conference)."""
    conference = conference_by_slug(broadcast.audience.get("conference") or "")
    if conference is None:
        return 0
    return chats.create_posts(
        conference.pk, source=_posts_source(broadcast.pk), title=broadcast.title, body=broadcast.body
    )


def enqueue_lanes(broadcast_id: int, channels: Iterable[str]) -> None:
    """
    Start the batch tasks of a sending broadcast once the current
    transaction commits (idempotent: batches claim rows). Broker down: the
    beat sweep resumes broadcasts whose lanes are not alive.
    """
    # The lanes count as alive from their enqueue on, so the sweep does not start spare ones meanwhile.
    transaction.on_commit(lambda: _beat(broadcast_id))
    if Channel.IN_APP in channels:
        enqueue_on_commit(tasks.send_in_app_batch_task, broadcast_id=broadcast_id)
    if Channel.TELEGRAM in channels:
        for _ in range(max(1, settings.BROADCAST_LANES)):
            enqueue_on_commit(tasks.send_telegram_batch_task, broadcast_id=broadcast_id)
    if TELEGRAM_CHATS in channels:
        enqueue_on_commit(tasks.send_chat_posts_task, broadcast_id=broadcast_id)


def cancel_broadcast(broadcast: Broadcast) -> Broadcast:
    """
    Stop ``broadcast``: deliveries not yet started become ``cancelled``; a
    Telegram message already in flight finishes and counts as sent.
    Cancelling a cancelled broadcast changes nothing; a finished one is
    ``BroadcastFinished``. Locks the broadcast row.
    """
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.status == BroadcastStatus.CANCELLED:
            return locked
        if not locked.is_active:
            raise BroadcastFinished()
        Delivery.objects.filter(broadcast=locked, state=DeliveryState.PENDING).update(state=DeliveryState.CANCELLED)
        chats.cancel_posts(_posts_source(locked.pk))
        locked.status = BroadcastStatus.CANCELLED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at"])
    return refresh_progress(locked.pk)


def refresh_progress(broadcast_id: int) -> Broadcast:
    """Recount ``sent``/``failed`` from the delivery rows and chat posts (counts, not increments: crash-proof)."""
    counts = dict(
        Delivery.objects.filter(broadcast_id=broadcast_id)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    for state, n in chats.post_counts(_posts_source(broadcast_id)).items():
        counts[state] = counts.get(state, 0) + n
    Broadcast.objects.filter(pk=broadcast_id).update(
        sent=counts.get(DeliveryState.SENT, 0), failed=counts.get(DeliveryState.FAILED, 0)
    )
    return Broadcast.objects.get(pk=broadcast_id)


def finish_broadcast_if_done(broadcast_id: int) -> bool:
    """Mark a ``sending`` broadcast ``completed`` (or ``failed`` when nothing got through) once no row is open."""
    open_rows = Delivery.objects.filter(
        broadcast_id=broadcast_id, state__in=[DeliveryState.PENDING, DeliveryState.SENDING]
    )
    broadcast = refresh_progress(broadcast_id)
    if broadcast.status != BroadcastStatus.SENDING or open_rows.exists() or _open_posts(broadcast_id):
        return False
    status = BroadcastStatus.FAILED if broadcast.failed and not broadcast.sent else BroadcastStatus.COMPLETED
    return bool(
        Broadcast.objects.filter(pk=broadcast_id, status=BroadcastStatus.SENDING).update(
            status=status, finished_at=timezone.now()
        )
    )


def _open_posts(broadcast_id: int) -> bool:
    counts = chats.post_counts(_posts_source(broadcast_id))
    return bool(counts.get(DeliveryState.PENDING) or counts.get(DeliveryState.SENDING))


def send_chat_posts(broadcast_id: int, *, budget_seconds: float = 10.0) -> bool:
    """
    Post a broadcast into its announcements chats (``chats.send_posts``,
    under the global rate limit, each post once); return ``True`` when none
    is left. Finishes the broadcast when nothing else is open.
    """
    _beat(broadcast_id)
    result = chats.send_posts(_posts_source(broadcast_id), budget_seconds=budget_seconds)
    finish_broadcast_if_done(broadcast_id)
    return result.drained


def _beat(broadcast_id: int) -> None:
    try:
        cache.set(f"notifications:lane:{broadcast_id}", 1, timeout=LANE_HEARTBEAT_SECONDS)
    except Exception as exc:  # a missed heartbeat only means the sweep starts a spare lane
        logger.warning("lane_heartbeat_failed", error=str(exc))


def _lane_alive(broadcast_id: int) -> bool:
    try:
        return bool(cache.get(f"notifications:lane:{broadcast_id}"))
    except Exception:  # Redis down: assume dead, a spare lane is harmless
        return False


# --- in-app lane ---------------------------------------------------------------------------


def send_in_app_batches(broadcast_id: int, *, budget_seconds: float = 20.0) -> bool:
    """
    Send the in-app deliveries of a broadcast in batches; return ``True``
    when none is left. Each batch claims its rows (skip locked), creates the
    notifications and marks the rows ``sent`` in one transaction: exactly once.
    """
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        _beat(broadcast_id)
        if _send_in_app_batch(broadcast_id) == 0:
            finish_broadcast_if_done(broadcast_id)
            return True
    refresh_progress(broadcast_id)
    return False


def _send_in_app_batch(broadcast_id: int) -> int:
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(broadcast_id=broadcast_id, channel=Channel.IN_APP, state=DeliveryState.PENDING)
            .order_by("id")
            .values_list("pk", "user_id")[:IN_APP_BATCH_SIZE]
        )
        if not rows:
            return 0
        broadcast = Broadcast.objects.get(pk=broadcast_id)
        pushes = notifications.store_in_app_for_pushes(
            [user_id for _, user_id in rows],
            kind=NotificationKind.BROADCAST,
            title=broadcast.title,
            body=broadcast.body,
            data={"broadcast": broadcast_id},
        )
        Delivery.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            state=DeliveryState.SENT, sent_at=now, attempts=F("attempts") + 1
        )
        transaction.on_commit(lambda: push_batch(broadcast_id, pushes))
    return len(rows)


def push_batch(broadcast_id: int, pushes: list[tuple[str, dict]]) -> int:
    """
    Push a committed in-app batch to the recipients' sockets in one
    pipelined send and add what the channel layer refused (a socket
    process's queue was full) to the broadcast's ``socket_refused``, with a
    warning; return that count. The notifications are stored either way:
    a refused push is still in the person's REST inbox.
    """
    refused = realtime.send_now(pushes)
    if refused:
        Broadcast.objects.filter(pk=broadcast_id).update(socket_refused=F("socket_refused") + refused)
        logger.warning("broadcast_socket_pushes_refused", broadcast=broadcast_id, refused=refused, batch=len(pushes))
    return refused


# --- Telegram lanes --------------------------------------------------------------------------


def send_telegram_batch(broadcast_id: int, *, budget_seconds: float = 10.0) -> delivery.LaneResult:
    """
    One Telegram lane of a ``sending`` broadcast for at most
    ``budget_seconds`` (see ``notifications.delivery`` for the row states);
    several run in parallel, each claiming its own rows. Finishes the
    broadcast when the lane finds nothing left.
    """
    # No join on the broadcast when locking: ``claim`` locks only the
    # delivery rows, so parallel lanes do not skip each other. Cancelling
    # turns pending rows into cancelled ones, which is what stops the lanes.
    result = delivery.send_telegram_rows(
        Delivery.objects.filter(broadcast_id=broadcast_id),
        related=("broadcast",),
        budget_seconds=budget_seconds,
        heartbeat=lambda: _beat(broadcast_id),
        progress=lambda: refresh_progress(broadcast_id),
        broadcast=True,
    )
    if result.drained:
        finish_broadcast_if_done(broadcast_id)
    else:
        refresh_progress(broadcast_id)
    return result


def next_retry_in(broadcast_id: int) -> float | None:
    """Seconds until the earliest pending Telegram retry of ``broadcast_id``, or ``None`` when none waits."""
    return delivery.next_retry_in(Delivery.objects.filter(broadcast_id=broadcast_id))


# --- retention ---------------------------------------------------------------------------

PURGE_BATCH = 5000


def purge_old_deliveries(*, budget_seconds: float = 60.0) -> int:
    """
    Delete the delivery rows of broadcasts that finished (completed,
    cancelled or failed) more than ``BROADCAST_DELIVERY_RETENTION_DAYS``
    ago, ``PURGE_BATCH`` rows per statement so no lock is held long;
    return how many. The broadcast keeps its ``total``/``sent``/``failed``
    counts (finished broadcasts are never recounted). Idempotent; what the
    budget leaves is deleted by the next run.
    """
    cutoff = timezone.now() - timedelta(days=settings.BROADCAST_DELIVERY_RETENTION_DAYS)
    finished = Broadcast.objects.filter(
        status__in=[BroadcastStatus.COMPLETED, BroadcastStatus.CANCELLED, BroadcastStatus.FAILED],
        finished_at__lt=cutoff,
    )
    deadline = time.monotonic() + budget_seconds
    deleted = 0
    while time.monotonic() < deadline:
        ids = list(Delivery.objects.filter(broadcast__in=finished).values_list("pk", flat=True)[:PURGE_BATCH])
        if not ids:
            break
        deleted += Delivery.objects.filter(pk__in=ids).delete()[0]
    return deleted


# --- the sweep ---------------------------------------------------------------------------


def dispatch_due() -> dict:
    """
    The beat job (every few seconds): start broadcasts whose time has come,
    settle rows cut off by a crash, resume broadcasts whose batch tasks died
    (a killed worker's task message is only redelivered after the broker's
    visibility timeout), finish drained ones, and retry due ``notify``
    Telegram copies. Everything it triggers is idempotent.
    """
    now = timezone.now()
    started = 0
    due = Broadcast.objects.filter(
        Q(status=BroadcastStatus.SCHEDULED, send_at__lte=now)
        | Q(status=BroadcastStatus.QUEUED, created_at__lte=now - timedelta(seconds=QUEUED_GRACE_SECONDS))
    ).values_list("pk", flat=True)
    for broadcast_id in due:
        enqueue(tasks.start_broadcast_task, broadcast_id=broadcast_id)
        started += 1
    settled = delivery.settle_stale(Delivery.objects.all()) + notifications.settle_stale_deliveries()
    resumed = 0
    for broadcast in Broadcast.objects.filter(status=BroadcastStatus.SENDING).only("pk", "channels"):
        if finish_broadcast_if_done(broadcast.pk) or _lane_alive(broadcast.pk):
            continue
        if (
            _open_posts(broadcast.pk)
            or Delivery.objects.filter(
                delivery.due(now), broadcast_id=broadcast.pk, state=DeliveryState.PENDING
            ).exists()
        ):
            enqueue_lanes(broadcast.pk, broadcast.channels)
            resumed += 1
    retried = notifications.retry_due_deliveries()
    return {"started": started, "settled": settled, "resumed": resumed, "retried": retried}
