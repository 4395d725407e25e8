"""
Writes of the bot: accepting Telegram updates exactly once and claiming
them for handling. What a command changes about a person (login, chat link,
mute) is written by ``users.services``.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from bot.errors import WebhookForbidden
from bot.models import ProcessedUpdate
from ibw.tasks import enqueue_on_commit

logger = structlog.get_logger(__name__)


def check_webhook_secret(supplied: str | None) -> None:
    """Raise ``WebhookForbidden`` unless ``supplied`` equals ``TELEGRAM_WEBHOOK_SECRET`` (constant time)."""
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    if not expected:
        logger.warning("integration_disabled", integration="telegram_webhook", reason="TELEGRAM_WEBHOOK_SECRET unset")
        raise WebhookForbidden("The webhook is disabled: no secret is configured.")
    if supplied is None or not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise WebhookForbidden()


def accept_update(payload: dict[str, Any], *, enqueue: bool = True) -> ProcessedUpdate | None:
    """
    Record a Telegram update once; return it, or ``None`` when its
    ``update_id`` was accepted before (Telegram retries until it gets a 200).

    Inserting the unique row is the acceptance: two deliveries of the same
    update racing each other cannot both get a row. With ``enqueue`` the
    handling task is queued when that insert commits (with the broker down
    the row stays unhandled and ``requeue_unhandled_updates`` queues it
    later, so Telegram still gets its 200); long polling handles the update
    itself instead.
    """
    try:
        with transaction.atomic():
            update = ProcessedUpdate.objects.create(update_id=payload["update_id"], payload=payload)
            if enqueue:
                # Inside the function: bot.tasks imports this module to run the work.
                from bot.tasks import handle_telegram_update_task

                enqueue_on_commit(handle_telegram_update_task, update_id=update.update_id)
    except IntegrityError:
        logger.info("telegram_update_duplicate", update_id=payload["update_id"])
        return None
    return update


def claim_update(update_id: int) -> ProcessedUpdate | None:
    """
    Mark an accepted update handled and return it, or ``None`` if it was
    already handled. A conditional UPDATE (``handled_at IS NULL``) is the
    claim, so of two workers handling one update only one acts.
    """
    now = timezone.now()
    if not ProcessedUpdate.objects.filter(update_id=update_id, handled_at__isnull=True).update(handled_at=now):
        return None
    return ProcessedUpdate.objects.get(update_id=update_id)


def purge_processed_updates() -> int:
    """
    Delete handled Telegram updates received more than
    ``PROCESSED_UPDATE_RETENTION_DAYS`` ago; return how many. Telegram
    re-sends an update for at most a day, so an older id never comes back;
    unhandled rows are kept (the requeue sweep still owes them). Idempotent.
    """
    cutoff = timezone.now() - timedelta(days=settings.PROCESSED_UPDATE_RETENTION_DAYS)
    deleted, _ = ProcessedUpdate.objects.filter(received_at__lt=cutoff, handled_at__isnull=False).delete()
    return deleted
