"""
Notifications: the single way any app tells people something.

Other apps call ``notify``; this app decides the channels (in-app row,
WebSocket push, Telegram) and does the fan-out. Broadcasts go to an audience
segment through the same channels, one ``Delivery`` row per (recipient,
channel).

Delivery guarantees
-------------------
* In-app: a batch of broadcast deliveries is claimed (``select_for_update(
  skip_locked=True)``), its notifications created and the rows marked
  ``sent`` in one transaction, so each recipient gets exactly one row
  whatever crashes.
* Telegram: a batch task reserves a few pending rows (``select_for_update(
  skip_locked=True)``, ``claimed_until`` = now + lease), then marks each one
  ``sending`` *just before* its HTTP request and ``sent``/``failed`` just
  after. A row still ``pending`` never reached Telegram and is always safe
  to send: a crashed task's reserved rows become claimable again when their
  lease ends, so a worker killed while waiting for the rate limiter loses
  nothing.
  A row found ``sending`` past ``BROADCAST_SENDING_LEASE_SECONDS`` was cut
  off mid-request: Telegram may or may not have it. We choose at-most-once
  for that one in-flight message per worker process: it is marked ``failed``
  with the reason "outcome unknown" and is not resent, because a duplicate
  in 20,000 phones is worse than one message the report names. Telegram
  offers no idempotency key, so no choice gives exactly-once there.
* Telegram's answers: 429 pauses every worker for ``retry_after`` (Redis,
  ``notifications.ratelimit``) and the row goes back to ``pending``; 403
  marks the user unreachable (``telegram_blocked_at``) and the row
  ``failed``, never retried; 5xx/network failures go back to ``pending``
  with exponential backoff, and after ``TELEGRAM_MAX_ATTEMPTS`` become
  ``failed`` with the last reason; 400 fails at once.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone

from ibw.errors import ValidationFailed
from ibw.tasks import enqueue, enqueue_on_commit
from integrations import telegram
from notifications import ratelimit
from notifications.errors import BroadcastFinished, SegmentUnavailable
from notifications.models import (
    Broadcast,
    BroadcastStatus,
    Channel,
    Delivery,
    DeliveryState,
    Notification,
    Segment,
)
from notifications.realtime import publish_to_users
from users.models import User

logger = structlog.get_logger(__name__)

TELEGRAM_MAX_ATTEMPTS = 5
IN_APP_BATCH_SIZE = 500
EXPANSION_CHUNK = 2000
# A broadcast whose lanes have not reported for this long is resumed by the sweep.
LANE_HEARTBEAT_SECONDS = 10
UNKNOWN_OUTCOME = "outcome unknown: the worker stopped during the Telegram request; not resent to avoid a duplicate"


def serialize_notification(notification: Notification) -> dict:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "created_at": notification.created_at.isoformat().replace("+00:00", "Z"),
        "read_at": notification.read_at.isoformat().replace("+00:00", "Z") if notification.read_at else None,
    }


# --- notify -------------------------------------------------------------------------


def notify(
    users: User | Iterable[User],
    *,
    kind: str,
    title: str,
    body: str = "",
    data: dict | None = None,
    channels: Iterable[str] | None = None,
) -> list[Notification]:
    """
    Tell ``users`` something: store an in-app notification for each (always:
    REST is the truth), push it to their sockets after commit, and, when
    ``channels`` includes ``telegram`` (the default ``None`` does), send it
    on Telegram to those who can receive it (chat linked, ``notify_telegram``
    on, bot not blocked) from a Celery task enqueued on commit.

    Safe inside the caller's transaction: nothing leaves the process before
    it commits, and nothing does if it rolls back.
    """
    recipients = [users] if isinstance(users, User) else list(users)
    if not recipients:
        return []
    wanted = {Channel.IN_APP, Channel.TELEGRAM} if channels is None else set(channels)
    with transaction.atomic():
        notifications = Notification.objects.bulk_create(
            [Notification(user=u, kind=kind, title=title, body=body, data=data or {}) for u in recipients]
        )
        publish_to_users(
            (n.user_id, {"type": "notification", "notification": serialize_notification(n)}) for n in notifications
        )
        if Channel.TELEGRAM in wanted and telegram.is_enabled():
            deliveries = Delivery.objects.bulk_create(
                [
                    Delivery(user=u, notification=n, channel=Channel.TELEGRAM)
                    for u, n in zip(recipients, notifications, strict=True)
                    if u.can_receive_telegram
                ]
            )
            if deliveries:
                ids = [d.pk for d in deliveries]
                # Broker down: the row stays pending and the beat sweep sends it later.
                enqueue_on_commit(_tasks().send_telegram_deliveries_task, delivery_ids=ids)
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


# --- audiences ------------------------------------------------------------------------


def normalize_audience(audience: dict) -> dict:
    """
    Check that ``audience`` names things that exist and return it in stored
    form: ``{"segment", "conference"?: slug, "event"?: id, "quest"?: id}``.

    Segments: ``all`` is every active user, or with a conference everyone
    tied to it (registered there, or RSVP'd to one of its events);
    ``attendees`` and ``checked_in`` are a conference's attendances (any
    conference when none is given); ``event_going`` the ``going`` RSVPs of
    ``event``; ``quest_completed`` the people who completed ``quest``.
    """
    from conferences.models import Conference
    from events.models import Event

    segment = audience.get("segment")
    if segment not in Segment.values:
        raise ValidationFailed("Unknown audience segment.", details={"audience": {"segment": ["Unknown segment."]}})
    clean: dict = {"segment": segment}
    slug = audience.get("conference")
    if slug:
        if not Conference.objects.filter(slug=slug).exists():
            raise ValidationFailed(
                "No such conference.", details={"audience": {"conference": ["No conference with this slug."]}}
            )
        clean["conference"] = slug
    if segment == Segment.EVENT_GOING:
        event = Event.objects.filter(pk=audience.get("event") or 0).select_related("conference").first()
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
        from quests.models import Quest

        if not Quest.objects.filter(pk=audience.get("quest") or 0).exists():
            raise ValidationFailed(
                "No such quest.", details={"audience": {"quest": ["An existing quest is required."]}}
            )
        clean["quest"] = int(audience["quest"])
    return clean


def audience_users(audience: dict) -> QuerySet[User]:
    """Return the active users ``audience`` (as stored by ``normalize_audience``) designates."""
    from conferences.models import Attendance, AttendanceStatus
    from events.models import RSVP, RSVPStatus

    users = User.objects.filter(is_active=True)
    segment = audience["segment"]
    slug = audience.get("conference")
    attendances = Attendance.objects.all()
    if slug:
        attendances = attendances.filter(conference__slug=slug)
    if segment == Segment.ALL:
        if not slug:
            return users
        return users.filter(
            Q(pk__in=attendances.values("user_id"))
            | Q(pk__in=RSVP.objects.filter(event__conference__slug=slug).values("user_id"))
        )
    if segment == Segment.ATTENDEES:
        return users.filter(pk__in=attendances.values("user_id"))
    if segment == Segment.CHECKED_IN:
        return users.filter(pk__in=attendances.filter(status=AttendanceStatus.CHECKED_IN).values("user_id"))
    if segment == Segment.EVENT_GOING:
        going = RSVP.objects.filter(event_id=audience["event"], status=RSVPStatus.GOING)
        return users.filter(pk__in=going.values("user_id"))
    if segment == Segment.QUEST_COMPLETED:
        try:
            from quests.selectors import users_who_completed
        except ImportError as exc:
            raise SegmentUnavailable("Quest completion is not available yet.") from exc
        return users.filter(pk__in=users_who_completed(audience["quest"]).values("pk"))
    raise ValidationFailed("Unknown audience segment.")


def preview_audience(audience: dict) -> int:
    """Return how many people ``audience`` reaches now."""
    return audience_users(normalize_audience(audience)).count()


# --- broadcasts -----------------------------------------------------------------------


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
    wanted = [c for c in Channel.values if c in set(channels)]
    if not wanted:
        raise ValidationFailed("Choose at least one channel.", details={"channels": ["Choose at least one channel."]})
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


def schedule_start(broadcast: Broadcast) -> None:
    """Enqueue the start of ``broadcast`` on commit: now, or at ``send_at``."""
    task = _tasks().start_broadcast_task
    broadcast_id = broadcast.pk
    # Broker down: the beat sweep starts due broadcasts from the database.
    if broadcast.status == BroadcastStatus.SCHEDULED and broadcast.send_at:
        enqueue_on_commit(task, eta=broadcast.send_at, broadcast_id=broadcast_id)
    else:
        enqueue_on_commit(task, broadcast_id=broadcast_id)


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
            recipients = users
            if channel == Channel.TELEGRAM:
                recipients = users.filter(
                    telegram_chat_id__isnull=False, notify_telegram=True, telegram_blocked_at__isnull=True
                )
            ids = recipients.order_by("pk").values_list("pk", flat=True)
            chunk: list[Delivery] = []
            for user_id in ids.iterator(chunk_size=EXPANSION_CHUNK):
                chunk.append(Delivery(broadcast=broadcast, user_id=user_id, channel=channel))
                if len(chunk) >= EXPANSION_CHUNK:
                    Delivery.objects.bulk_create(chunk, ignore_conflicts=True)
                    chunk = []
            if chunk:
                Delivery.objects.bulk_create(chunk, ignore_conflicts=True)
        broadcast.total = Delivery.objects.filter(broadcast=broadcast).count()
        broadcast.status = BroadcastStatus.SENDING
        broadcast.started_at = now
        broadcast.save(update_fields=["total", "status", "started_at"])
        channels = list(broadcast.channels)
        transaction.on_commit(lambda: enqueue_lanes(broadcast_id, channels))
    if broadcast.total == 0:
        finish_broadcast_if_done(broadcast_id)
    return True


def enqueue_lanes(broadcast_id: int, channels: Iterable[str]) -> None:
    """Start the batch tasks of a sending broadcast (idempotent: batches claim rows)."""
    tasks = _tasks()
    _beat(broadcast_id)
    # Broker down: the beat sweep resumes broadcasts whose lanes are not alive.
    if Channel.IN_APP in channels:
        enqueue(tasks.send_in_app_batch_task, broadcast_id=broadcast_id)
    if Channel.TELEGRAM in channels:
        for _ in range(max(1, settings.BROADCAST_LANES)):
            enqueue(tasks.send_telegram_batch_task, broadcast_id=broadcast_id)


def cancel_broadcast(broadcast: Broadcast) -> Broadcast:
    """
    Stop ``broadcast``: deliveries not yet started become ``cancelled``; a
    Telegram message already in flight finishes and counts as sent.
    Cancelling a cancelled broadcast changes nothing; a finished one is
    ``BroadcastFinished``.
    """
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.status == BroadcastStatus.CANCELLED:
            return locked
        if not locked.is_active:
            raise BroadcastFinished()
        Delivery.objects.filter(broadcast=locked, state=DeliveryState.PENDING).update(state=DeliveryState.CANCELLED)
        locked.status = BroadcastStatus.CANCELLED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at"])
    return refresh_progress(locked.pk)


def refresh_progress(broadcast_id: int) -> Broadcast:
    """Recount ``sent``/``failed`` from the delivery rows (counts, not increments: crash-proof)."""
    counts = dict(
        Delivery.objects.filter(broadcast_id=broadcast_id)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
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
    if broadcast.status != BroadcastStatus.SENDING or open_rows.exists():
        return False
    status = BroadcastStatus.FAILED if broadcast.failed and not broadcast.sent else BroadcastStatus.COMPLETED
    return bool(
        Broadcast.objects.filter(pk=broadcast_id, status=BroadcastStatus.SENDING).update(
            status=status, finished_at=timezone.now()
        )
    )


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
            .filter(
                broadcast_id=broadcast_id,
                channel=Channel.IN_APP,
                state=DeliveryState.PENDING,
            )
            .order_by("id")
            .values_list("pk", "user_id")[:IN_APP_BATCH_SIZE]
        )
        if not rows:
            return 0
        broadcast = Broadcast.objects.get(pk=broadcast_id)
        data = {"broadcast_id": broadcast_id}
        notifications = Notification.objects.bulk_create(
            [
                Notification(user_id=user_id, kind="broadcast", title=broadcast.title, body=broadcast.body, data=data)
                for _, user_id in rows
            ]
        )
        Delivery.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            state=DeliveryState.SENT, sent_at=now, attempts=F("attempts") + 1
        )
        publish_to_users(
            (n.user_id, {"type": "notification", "notification": serialize_notification(n)}) for n in notifications
        )
    return len(rows)


# --- Telegram ---------------------------------------------------------------------------


def telegram_parts(title: str, body: str) -> list[str]:
    """The HTML messages for ``title`` and ``body``: escaped, title in bold, split under Telegram's limit."""
    raw = f"{title}\n\n{body}" if body else title
    parts = telegram.split_message(raw)
    escaped = [html.escape(part, quote=False) for part in parts]
    if title and parts[0].startswith(title):
        escaped[0] = f"<b>{html.escape(title, quote=False)}</b>{html.escape(parts[0][len(title) :], quote=False)}"
    return escaped


class TelegramSender:
    """
    One ``Bot`` on one event loop for one task run (a ``Bot`` must not be
    shared across loops); opened on the first send, so a run with nothing
    to send makes no request. Database work stays synchronous between sends.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session = None
        self._client: telegram.TelegramClient | None = None

    def send(self, chat_id: int, text: str) -> int:
        if self._client is None:
            self._open()
        assert self._loop is not None and self._client is not None
        return self._loop.run_until_complete(self._client.send_message(chat_id, text))

    def _open(self) -> None:
        self._loop = asyncio.new_event_loop()
        session = telegram.bot_session()
        try:
            self._client = self._loop.run_until_complete(session.__aenter__())
        except BaseException:
            self._loop.close()
            self._loop = None
            raise
        self._session = session

    def close(self) -> None:
        if self._loop is None:
            return
        if self._session is not None:
            try:
                self._loop.run_until_complete(self._session.__aexit__(None, None, None))
            except Exception as exc:  # closing a session that failed is not worth failing the task
                logger.warning("telegram_session_close_failed", error=str(exc))
        self._loop.close()
        self._loop = self._session = self._client = None

    def __enter__(self) -> TelegramSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class LaneResult:
    sent: int = 0
    failed: int = 0
    drained: bool = False
    # Seconds until sending may resume (a 429 pause longer than a task should sleep).
    paused_for: float = 0.0


CLAIM_BATCH = 20


def _due(now: datetime) -> Q:
    return (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    )


def _claim_telegram(candidates: QuerySet[Delivery], limit: int = CLAIM_BATCH) -> list[Delivery]:
    """
    Reserve up to ``limit`` due pending rows of ``candidates`` for this task
    (skip locked; ``claimed_until`` set, state still ``pending``: nothing of
    them has reached Telegram yet) and return them with their users.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.BROADCAST_SENDING_LEASE_SECONDS)
    with transaction.atomic():
        rows = list(
            candidates.select_for_update(skip_locked=True, of=("self",))
            .select_related("user", "broadcast", "notification")
            .filter(_due(now), state=DeliveryState.PENDING, channel=Channel.TELEGRAM)
            .order_by("id")[:limit]
        )
        if rows:
            Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(claimed_until=now + lease)
    return rows


def _mark_sending(delivery: Delivery) -> bool:
    """Mark a claimed row ``sending`` just before its request; ``False`` when it was cancelled meanwhile."""
    now = timezone.now()
    marked = Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
        state=DeliveryState.SENDING, sending_at=now, attempts=F("attempts") + 1
    )
    delivery.state, delivery.sending_at, delivery.attempts = DeliveryState.SENDING, now, delivery.attempts + 1
    return bool(marked)


def send_telegram_batch(
    *, broadcast_id: int | None = None, delivery_ids: list[int] | None = None, budget_seconds: float = 10.0
) -> LaneResult:
    """
    Send due Telegram deliveries one by one (of a ``sending`` broadcast, or
    the given ids) under the global rate limit, for at most
    ``budget_seconds``; several of these run in parallel, each claiming its
    own rows. See the module docstring for the per-row states.
    """
    if broadcast_id is not None:
        # No join on the broadcast: FOR UPDATE would lock its row too and the
        # parallel lanes would skip each other. Cancelling turns pending rows
        # into cancelled ones, which is what stops the lanes.
        candidates = Delivery.objects.filter(broadcast_id=broadcast_id)
    else:
        candidates = Delivery.objects.filter(pk__in=delivery_ids or [], broadcast__isnull=True)
    result = LaneResult()
    deadline = time.monotonic() + budget_seconds
    last_refresh = last_beat = 0.0
    claimed: list[Delivery] = []
    with TelegramSender() as sender:
        while time.monotonic() < deadline:
            if broadcast_id is not None and time.monotonic() - last_beat > 1:
                _beat(broadcast_id)
                last_beat = time.monotonic()
            if not claimed:
                claimed = _claim_telegram(candidates)
                if not claimed:
                    result.drained = True
                    break
            wait = ratelimit.acquire(max_wait=5.0)
            if wait:
                result.paused_for = wait
                break
            delivery = claimed.pop(0)
            if not _mark_sending(delivery):
                continue
            if _deliver_telegram(sender, delivery):
                result.sent += 1
            else:
                result.failed += 1
            if broadcast_id is not None and time.monotonic() - last_refresh > 2:
                if last_refresh:
                    refresh_progress(broadcast_id)
                last_refresh = time.monotonic()
    if claimed:
        # Hand back what this run reserved but did not start: other tasks may take it at once.
        Delivery.objects.filter(pk__in=[d.pk for d in claimed], state=DeliveryState.PENDING).update(claimed_until=None)
    if broadcast_id is not None:
        if result.drained:
            finish_broadcast_if_done(broadcast_id)
        else:
            refresh_progress(broadcast_id)
    return result


def _deliver_telegram(sender: TelegramSender, delivery: Delivery) -> bool:
    """Send one claimed (``sending``) row and record the outcome; return whether it was sent."""
    source = delivery.broadcast or delivery.notification
    if source is None:
        _fail(delivery, "The notification was deleted before it could be sent.")
        return False
    chat_id = delivery.user.telegram_chat_id
    if not delivery.user.can_receive_telegram or chat_id is None:
        _fail(delivery, "The user can no longer receive Telegram messages.")
        return False
    try:
        for index, part in enumerate(telegram_parts(source.title, source.body)):
            if index:
                ratelimit.acquire(max_wait=3600)
            sender.send(chat_id, part)
    except telegram.TelegramRetryAfter as exc:
        ratelimit.pause(exc.retry_after)
        # Refused, so not delivered: back in the queue, and the attempt does not count.
        Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
            state=DeliveryState.PENDING, attempts=F("attempts") - 1, claimed_until=None, error=str(exc)[:500]
        )
        logger.info("telegram_rate_limited", retry_after=exc.retry_after)
        return False
    except telegram.TelegramForbidden as exc:
        User.objects.filter(pk=delivery.user_id, telegram_blocked_at__isnull=True).update(
            telegram_blocked_at=timezone.now()
        )
        _fail(delivery, f"Blocked: {exc}")
        return False
    except (telegram.TelegramBadRequest, telegram.TelegramDisabled) as exc:
        _fail(delivery, str(exc))
        return False
    except Exception as exc:  # TelegramUnavailable and anything unexpected: retry with backoff
        reason = str(exc) or type(exc).__name__
        if delivery.attempts >= TELEGRAM_MAX_ATTEMPTS:
            _fail(delivery, f"Gave up after {delivery.attempts} attempts: {reason}")
        else:
            backoff = min(300, 2**delivery.attempts)
            Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
                state=DeliveryState.PENDING,
                next_attempt_at=timezone.now() + timedelta(seconds=backoff),
                claimed_until=None,
                error=reason[:500],
            )
        if not isinstance(exc, telegram.TelegramError):
            logger.exception("telegram_send_unexpected_error")
        return False
    # "failed" is included: a lease that ran out under a very slow request must not hide a send we saw succeed.
    Delivery.objects.filter(pk=delivery.pk, state__in=[DeliveryState.SENDING, DeliveryState.FAILED]).update(
        state=DeliveryState.SENT, sent_at=timezone.now(), error=""
    )
    return True


def _fail(delivery: Delivery, reason: str) -> None:
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
        state=DeliveryState.FAILED, error=reason[:500]
    )


# --- the sweep ---------------------------------------------------------------------------


def settle_stale_deliveries() -> int:
    """Report rows left ``sending`` past the lease (a crash mid-request) as failed, outcome unknown."""
    cutoff = timezone.now() - timedelta(seconds=settings.BROADCAST_SENDING_LEASE_SECONDS)
    stale = Delivery.objects.filter(state=DeliveryState.SENDING, sending_at__lt=cutoff)
    count = stale.update(state=DeliveryState.FAILED, error=UNKNOWN_OUTCOME)
    if count:
        logger.warning("telegram_deliveries_outcome_unknown", count=count)
    return count


def dispatch_due() -> dict:
    """
    The beat job (every few seconds): start broadcasts whose time has come,
    settle rows cut off by a crash, resume broadcasts whose batch tasks died
    (a killed worker's task message is only redelivered after the broker's
    visibility timeout), finish drained ones, and retry due ``notify``
    Telegram rows. Everything it triggers is idempotent.
    """
    tasks = _tasks()
    now = timezone.now()
    started = 0
    stale_queued = now - timedelta(seconds=10)
    due = Broadcast.objects.filter(
        Q(status=BroadcastStatus.SCHEDULED, send_at__lte=now)
        | Q(status=BroadcastStatus.QUEUED, created_at__lte=stale_queued)
    ).values_list("pk", flat=True)
    for broadcast_id in due:
        tasks.start_broadcast_task.delay(broadcast_id=broadcast_id)
        started += 1
    settled = settle_stale_deliveries()
    resumed = 0
    for broadcast in Broadcast.objects.filter(status=BroadcastStatus.SENDING).only("pk", "channels"):
        if finish_broadcast_if_done(broadcast.pk) or _lane_alive(broadcast.pk):
            continue
        if Delivery.objects.filter(_due(now), broadcast_id=broadcast.pk, state=DeliveryState.PENDING).exists():
            enqueue_lanes(broadcast.pk, broadcast.channels)
            resumed += 1
    retry_ids = list(
        Delivery.objects.filter(_due(now), broadcast__isnull=True, state=DeliveryState.PENDING)
        .order_by("id")
        .values_list("pk", flat=True)[:1000]
    )
    if retry_ids:
        tasks.send_telegram_deliveries_task.delay(delivery_ids=retry_ids)
    return {"started": started, "settled": settled, "resumed": resumed, "retried": len(retry_ids)}


def next_retry_in(*, broadcast_id: int | None = None, delivery_ids: list[int] | None = None) -> float | None:
    """Seconds until the earliest pending retry of these rows, or ``None`` when none waits."""
    rows = Delivery.objects.filter(state=DeliveryState.PENDING, channel=Channel.TELEGRAM)
    rows = rows.filter(broadcast_id=broadcast_id) if broadcast_id is not None else rows.filter(pk__in=delivery_ids)
    earliest = rows.aggregate(at=Min("next_attempt_at"))["at"]
    if earliest is None:
        return None
    return max(0.0, (earliest - timezone.now()).total_seconds())


def _tasks():
    # Services enqueue tasks, tasks call services: import on use to keep one direction at import time.
    from notifications import tasks

    return tasks
