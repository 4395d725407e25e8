"""
Sending the Telegram rows of any ``AbstractDelivery`` model: the Telegram
copies of ``notify`` (``TelegramDelivery``) and a broadcast's recipients
(``broadcasts.Delivery``) go through the same states.

* A batch task reserves a few pending rows (``select_for_update(
  skip_locked=True)``, ``claimed_until`` = now + lease), then marks each one
  ``sending`` *just before* its HTTP request and ``sent``/``failed`` just
  after. A row still ``pending`` never reached Telegram and is always safe
  to send: a crashed task's reserved rows become claimable again when their
  lease ends, so a worker killed while waiting for the rate limiter loses
  nothing. Rows go out in windows of ``TELEGRAM_SEND_CONCURRENCY``: the
  window is marked ``sending`` in one UPDATE, its requests run concurrently
  on one keep-alive connection pool, and the sent ones are marked in one
  UPDATE (the per-row discipline is unchanged, only batched).
* A row found ``sending`` past ``BROADCAST_SENDING_LEASE_SECONDS`` was cut
  off mid-request: Telegram may or may not have it. We choose at-most-once
  for the messages in flight (at most one window per lane): it is marked ``failed``
  with the reason "outcome unknown" and is not resent, because a duplicate
  in 20,000 phones is worse than one message the report names. Telegram
  offers no idempotency key, so no choice gives exactly-once there.
* Telegram's answers: 429 pauses every worker for ``retry_after``
  (``integrations.ratelimit``) and the row goes back to ``pending``; 403
  marks the user unreachable (``telegram_blocked_at``) and the row
  ``failed``, never retried; 5xx/network failures go back to ``pending``
  with exponential backoff, and after ``TELEGRAM_MAX_ATTEMPTS`` become
  ``failed`` with the last reason; 400 fails at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, Q, QuerySet
from django.utils import timezone

from integrations import ratelimit, telegram
from integrations.telegram_sender import TelegramSender
from notifications.models import BLOCKED_ERROR_PREFIX, AbstractDelivery, Channel, DeliveryState
from users.models import User

logger = structlog.get_logger(__name__)

TELEGRAM_MAX_ATTEMPTS = 5
CLAIM_BATCH = 20
# Telegram's paid broadcasts go up to 1,000 messages a second.
PAID_RATE_CEILING = 1000.0
UNKNOWN_OUTCOME = "outcome unknown: the worker stopped during the Telegram request; not resent to avoid a duplicate"


@dataclass
class LaneResult:
    sent: int = 0
    failed: int = 0
    drained: bool = False
    # Seconds until sending may resume (a 429 pause longer than a task should sleep).
    paused_for: float = 0.0


def due(now: datetime) -> Q:
    """Rows whose retry time has come and that no live task holds."""
    return (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    )


def claim(candidates: QuerySet, *, related: tuple[str, ...] = (), limit: int = CLAIM_BATCH) -> list:
    """
    Reserve up to ``limit`` due pending Telegram rows of ``candidates`` for
    this task (skip locked, only the delivery rows locked; ``claimed_until``
    set, state still ``pending``: nothing of them has reached Telegram yet)
    and return them with their users and the ``related`` message sources.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.BROADCAST_SENDING_LEASE_SECONDS)
    with transaction.atomic():
        rows = list(
            candidates.select_for_update(skip_locked=True, of=("self",))
            .select_related("user", *related)
            .filter(due(now), state=DeliveryState.PENDING, channel=Channel.TELEGRAM)
            .order_by("id")[:limit]
        )
        if rows:
            candidates.model.objects.filter(pk__in=[r.pk for r in rows]).update(claimed_until=now + lease)
    return rows


def _mark_sending(delivery: AbstractDelivery) -> bool:
    """Mark a claimed row ``sending`` just before its request; ``False`` when it was cancelled meanwhile."""
    now = timezone.now()
    marked = (
        type(delivery)
        ._default_manager.filter(pk=delivery.pk, state=DeliveryState.PENDING)
        .update(state=DeliveryState.SENDING, sending_at=now, attempts=F("attempts") + 1)
    )
    delivery.state, delivery.sending_at, delivery.attempts = DeliveryState.SENDING, now, delivery.attempts + 1
    return bool(marked)


def send_telegram_rows(
    candidates: QuerySet,
    *,
    related: tuple[str, ...] = (),
    budget_seconds: float = 10.0,
    heartbeat: Callable[[], object] | None = None,
    progress: Callable[[], object] | None = None,
    broadcast: bool = False,
) -> LaneResult:
    """
    Send the due Telegram rows of ``candidates`` under the global rate limit
    for at most ``budget_seconds``; several of these run in parallel, each
    claiming its own rows. Each round takes up to
    ``TELEGRAM_SEND_CONCURRENCY`` tokens, marks that many claimed rows
    ``sending`` in one UPDATE, sends them concurrently on one keep-alive
    connection pool and marks the sent ones ``sent`` in one UPDATE: a kill
    leaves at most that window's rows with an unknown outcome.

    ``broadcast`` runs as a background lane: it gives way in the limiter to
    single-person sends, and with ``TELEGRAM_PAID_BROADCAST`` sends with
    ``allow_paid_broadcast`` on the paid bucket at
    ``TELEGRAM_PAID_BROADCAST_RATE``. ``heartbeat`` is called about once a
    second and ``progress`` about every two seconds of sending. Rows this
    run reserved but did not start are handed back at the end.
    """
    model = candidates.model
    result = LaneResult()
    paid = broadcast and settings.TELEGRAM_PAID_BROADCAST
    rate = min(settings.TELEGRAM_PAID_BROADCAST_RATE, PAID_RATE_CEILING) if paid else settings.TELEGRAM_RATE_LIMIT
    bucket = ratelimit.PAID_BUCKET_KEY if paid else ratelimit.BUCKET_KEY
    window = max(1, settings.TELEGRAM_SEND_CONCURRENCY)
    # At the free rates a lane sends a few a second: a small reservation keeps rows free for the other lanes.
    claim_limit = CLAIM_BATCH if 0 < rate <= 100 else max(CLAIM_BATCH, window * 8)
    deadline = time.monotonic() + budget_seconds
    last_progress = last_beat = 0.0
    claimed: list = []
    unrecorded: list[int] = []  # sent by the last window, to be marked with the next UPDATE
    with TelegramSender(paid=paid) as sender:
        while time.monotonic() < deadline:
            if heartbeat is not None and time.monotonic() - last_beat > 1:
                heartbeat()
                last_beat = time.monotonic()
            if not claimed:
                claimed = claim(candidates, related=related, limit=claim_limit)
                if not claimed:
                    result.drained = True
                    break
            if unrecorded and 0 < rate <= 100:
                # At the free rates the next token is a while off: record what was sent now.
                _mark_sent(model, unrecorded)
                unrecorded = []
            granted, wait = ratelimit.acquire_many(
                min(window, len(claimed)), max_wait=5.0, rate=rate, bucket=bucket, background=broadcast
            )
            if not granted:
                result.paused_for = wait
                break
            batch, claimed = claimed[:granted], claimed[granted:]
            # One round trip and one commit: the last window's sent rows recorded, this window's marked sending.
            marked = _mark_sending_many(batch, sent_before=unrecorded)
            unrecorded, failed = _deliver_many(sender, marked, record_sent=False)
            result.sent += len(unrecorded)
            result.failed += failed
            if progress is not None and time.monotonic() - last_progress > 2:
                if last_progress:
                    progress()
                last_progress = time.monotonic()
    _mark_sent(model, unrecorded)
    if claimed:
        # Hand back what this run reserved but did not start: other tasks may take it at once.
        model.objects.filter(pk__in=[d.pk for d in claimed], state=DeliveryState.PENDING).update(claimed_until=None)
    return result


def _mark_sending_many(deliveries: list, *, sent_before: list[int] | None = None) -> list:
    """
    Mark claimed rows ``sending`` just before their requests, in one
    statement that also marks ``sent_before`` (ids whose requests
    succeeded) ``sent``; return the rows marked (a row cancelled meanwhile
    is left out).
    """
    if not deliveries:
        return []
    model = type(deliveries[0])
    now = timezone.now()
    table = connection.ops.quote_name(model._meta.db_table)
    placeholders = ", ".join(["%s"] * len(deliveries))
    params: list = []
    sql = ""
    if sent_before and connection.vendor == "postgresql":
        sql, params = _sent_cte(table, sent_before, now)
    elif sent_before:
        _mark_sent(model, sent_before)
    # Table and column names come from the model, values are parameters.
    sql += (
        f"UPDATE {table} SET state = %s, sending_at = %s, attempts = attempts + 1 "  # noqa: S608
        f"WHERE id IN ({placeholders}) AND state = %s RETURNING id"
    )
    params += [DeliveryState.SENDING, now, *[d.pk for d in deliveries], DeliveryState.PENDING]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        marked = {row[0] for row in cursor.fetchall()}
    chosen = [d for d in deliveries if d.pk in marked]
    for d in chosen:
        d.state, d.sending_at, d.attempts = DeliveryState.SENDING, now, d.attempts + 1
    return chosen


def _sent_cte(table: str, ids: list[int], now: datetime) -> tuple[str, list]:
    placeholders = ", ".join(["%s"] * len(ids))
    sql = (
        f"WITH done AS (UPDATE {table} SET state = %s, sent_at = %s, error = '' "  # noqa: S608 (names from _meta)
        f"WHERE id IN ({placeholders}) AND state IN (%s, %s)) "
    )
    return sql, [DeliveryState.SENT, now, *ids, DeliveryState.SENDING, DeliveryState.FAILED]


def _mark_sent(model: type, ids: list[int]) -> None:
    """Record that the requests of rows ``ids`` succeeded."""
    if ids:
        # "failed" is included: a lease that ran out under a very slow request must not hide a send we saw succeed.
        model._default_manager.filter(pk__in=ids, state__in=[DeliveryState.SENDING, DeliveryState.FAILED]).update(
            state=DeliveryState.SENT, sent_at=timezone.now(), error=""
        )


def _deliver(sender: TelegramSender, delivery: AbstractDelivery) -> bool:
    """Send one claimed (``sending``) row and record the outcome; return whether it was sent."""
    return len(_deliver_many(sender, [delivery])[0]) == 1


def _deliver_many(sender: TelegramSender, deliveries: list, *, record_sent: bool = True) -> tuple[list[int], int]:
    """
    Send claimed (``sending``) rows concurrently and record each failure;
    the sent ones are marked in one UPDATE, or with ``record_sent`` false
    left to the caller's next statement. Return ``(sent ids, not sent)``.
    """
    if not deliveries:
        return [], 0
    model = type(deliveries[0])
    to_send: list = []
    messages: list[tuple[int, str, str, list[dict[str, str]] | None]] = []
    failed = 0
    for delivery in deliveries:
        message = delivery.message()
        chat_id = delivery.user.telegram_chat_id
        if message is None:
            _fail(delivery, "The notification was deleted before it could be sent.")
            failed += 1
        elif not delivery.user.can_receive_telegram or chat_id is None:
            _fail(delivery, "The user can no longer receive Telegram messages.")
            failed += 1
        else:
            to_send.append(delivery)
            messages.append((chat_id, *message, delivery.buttons()))
    errors = sender.send_titled_many(messages) if messages else []
    sent_ids = [d.pk for d, error in zip(to_send, errors, strict=True) if error is None]
    if record_sent:
        _mark_sent(model, sent_ids)
    for delivery, error in zip(to_send, errors, strict=True):
        if error is not None:
            _record_error(delivery, error)
            failed += 1
    return sent_ids, failed


def _record_error(delivery: AbstractDelivery, exc: BaseException) -> None:
    """Record why a request of a ``sending`` row failed: back to pending (429, 5xx) or failed."""
    rows = type(delivery)._default_manager.filter(pk=delivery.pk)
    if isinstance(exc, telegram.TelegramRetryAfter):
        # Refused, so not delivered (the sender paused every worker): back in the queue, the attempt does not count.
        rows.filter(state=DeliveryState.SENDING).update(
            state=DeliveryState.PENDING, attempts=F("attempts") - 1, claimed_until=None, error=str(exc)[:500]
        )
    elif isinstance(exc, telegram.TelegramForbidden):
        User.objects.filter(pk=delivery.user_id, telegram_blocked_at__isnull=True).update(
            telegram_blocked_at=timezone.now()
        )
        _fail(delivery, f"{BLOCKED_ERROR_PREFIX}{exc}")
    elif isinstance(exc, telegram.TelegramBadRequest | telegram.TelegramDisabled):
        _fail(delivery, str(exc))
    else:  # TelegramUnavailable and anything unexpected: retry with backoff
        reason = str(exc) or type(exc).__name__
        if delivery.attempts >= TELEGRAM_MAX_ATTEMPTS:
            _fail(delivery, f"Gave up after {delivery.attempts} attempts: {reason}")
        else:
            backoff = min(300, 2**delivery.attempts)
            rows.filter(state=DeliveryState.SENDING).update(
                state=DeliveryState.PENDING,
                next_attempt_at=timezone.now() + timedelta(seconds=backoff),
                claimed_until=None,
                error=reason[:500],
            )
        if not isinstance(exc, telegram.TelegramError):
            logger.error("telegram_send_unexpected_error", error=repr(exc))


def _fail(delivery: AbstractDelivery, reason: str) -> None:
    type(delivery)._default_manager.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
        state=DeliveryState.FAILED, error=reason[:500]
    )


def settle_stale(rows: QuerySet) -> int:
    """Report ``rows`` left ``sending`` past the lease (a crash mid-request) as failed, outcome unknown."""
    cutoff = timezone.now() - timedelta(seconds=settings.BROADCAST_SENDING_LEASE_SECONDS)
    count = rows.filter(state=DeliveryState.SENDING, sending_at__lt=cutoff).update(
        state=DeliveryState.FAILED, error=UNKNOWN_OUTCOME
    )
    if count:
        logger.warning("telegram_deliveries_outcome_unknown", count=count, model=rows.model._meta.label)
    return count


def next_retry_in(rows: QuerySet) -> float | None:
    """Seconds until the earliest pending Telegram retry among ``rows``, or ``None`` when none waits."""
    earliest = rows.filter(state=DeliveryState.PENDING, channel=Channel.TELEGRAM).aggregate(at=Min("next_attempt_at"))[
        "at"
    ]
    if earliest is None:
        return None
    return max(0.0, (earliest - timezone.now()).total_seconds())
