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
  nothing.
* A row found ``sending`` past ``BROADCAST_SENDING_LEASE_SECONDS`` was cut
  off mid-request: Telegram may or may not have it. We choose at-most-once
  for that one in-flight message per worker process: it is marked ``failed``
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
from django.db import transaction
from django.db.models import F, Min, Q, QuerySet
from django.utils import timezone

from integrations import ratelimit, telegram
from integrations.telegram_sender import TelegramSender
from notifications.models import AbstractDelivery, Channel, DeliveryState
from users.models import User

logger = structlog.get_logger(__name__)

TELEGRAM_MAX_ATTEMPTS = 5
CLAIM_BATCH = 20
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
) -> LaneResult:
    """
    Send the due Telegram rows of ``candidates`` one by one under the global
    rate limit for at most ``budget_seconds``; several of these run in
    parallel, each claiming its own rows. ``heartbeat`` is called about once
    a second and ``progress`` about every two seconds of sending. Rows this
    run reserved but did not start are handed back at the end.
    """
    model = candidates.model
    result = LaneResult()
    deadline = time.monotonic() + budget_seconds
    last_progress = last_beat = 0.0
    claimed: list = []
    with TelegramSender() as sender:
        while time.monotonic() < deadline:
            if heartbeat is not None and time.monotonic() - last_beat > 1:
                heartbeat()
                last_beat = time.monotonic()
            if not claimed:
                claimed = claim(candidates, related=related)
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
            if _deliver(sender, delivery):
                result.sent += 1
            else:
                result.failed += 1
            if progress is not None and time.monotonic() - last_progress > 2:
                if last_progress:
                    progress()
                last_progress = time.monotonic()
    if claimed:
        # Hand back what this run reserved but did not start: other tasks may take it at once.
        model.objects.filter(pk__in=[d.pk for d in claimed], state=DeliveryState.PENDING).update(claimed_until=None)
    return result


def _deliver(sender: TelegramSender, delivery: AbstractDelivery) -> bool:
    """Send one claimed (``sending``) row and record the outcome; return whether it was sent."""
    rows = type(delivery)._default_manager.filter(pk=delivery.pk)
    message = delivery.message()
    if message is None:
        _fail(delivery, "The notification was deleted before it could be sent.")
        return False
    chat_id = delivery.user.telegram_chat_id
    if not delivery.user.can_receive_telegram or chat_id is None:
        _fail(delivery, "The user can no longer receive Telegram messages.")
        return False
    title, body = message
    try:
        sender.send_titled(chat_id, title=title, body=body, buttons=delivery.buttons())
    except telegram.TelegramRetryAfter as exc:
        # Refused, so not delivered (the sender paused every worker): back in the queue, the attempt does not count.
        rows.filter(state=DeliveryState.SENDING).update(
            state=DeliveryState.PENDING, attempts=F("attempts") - 1, claimed_until=None, error=str(exc)[:500]
        )
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
            rows.filter(state=DeliveryState.SENDING).update(
                state=DeliveryState.PENDING,
                next_attempt_at=timezone.now() + timedelta(seconds=backoff),
                claimed_until=None,
                error=reason[:500],
            )
        if not isinstance(exc, telegram.TelegramError):
            logger.exception("telegram_send_unexpected_error")
        return False
    # "failed" is included: a lease that ran out under a very slow request must not hide a send we saw succeed.
    rows.filter(state__in=[DeliveryState.SENDING, DeliveryState.FAILED]).update(
        state=DeliveryState.SENT, sent_at=timezone.now(), error=""
    )
    return True


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
