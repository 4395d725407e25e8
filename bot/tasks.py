"""
The bot's tasks. Their names keep the ``integrations.`` prefix they were
registered under before the bot became its own app: queued messages and the
beat schedule refer to tasks by name.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from celery import shared_task
from django.utils import timezone

from bot import handlers, selectors, services
from conferences.calendar import badge_png
from integrations import telegram
from users.services import mark_telegram_chat_blocked

logger = structlog.get_logger(__name__)

# Telegram's flood control asks for waits of seconds to a minute; after this many
# waits in a row the reply is dropped rather than sent when nobody expects it.
MAX_REPLY_RETRIES = 5


@shared_task(name="integrations.handle_telegram_update", acks_late=True)
def handle_telegram_update_task(*, update_id: int) -> None:
    """
    Act on an accepted update once and queue its replies.

    The update is claimed (``handled_at`` set by a conditional UPDATE), so a
    redelivered task does nothing; each reply is its own task, so a 429 on
    sending retries the reply and never the command.
    """
    update = services.claim_update(update_id)
    if update is None:
        return
    for reply in handlers.handle_update(update.payload):
        if reply.badge_code:
            send_bot_reply_task.delay(chat_id=reply.chat_id, text=reply.text, badge_code=reply.badge_code)
        else:
            send_bot_reply_task.delay(chat_id=reply.chat_id, text=reply.text)


@shared_task(
    name="integrations.send_bot_reply",
    bind=True,
    acks_late=True,
    autoretry_for=(telegram.TelegramUnavailable,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=MAX_REPLY_RETRIES,
)
def send_bot_reply_task(self, *, chat_id: int, text: str, badge_code: str = "") -> None:
    """Send one bot reply (with ``badge_code``: that badge's QR code as a photo, ``text`` its caption); after a 429 retry once ``retry_after`` has passed."""
    try:
        if badge_code:
            telegram.send_photo(chat_id, badge_png(badge_code), caption=text)
        else:
            telegram.send_message(chat_id, text)
    except telegram.TelegramRetryAfter as exc:
        logger.warning("bot_reply_flood_control", chat_id=chat_id, retry_after=exc.retry_after)
        raise self.retry(countdown=exc.retry_after, max_retries=MAX_REPLY_RETRIES) from exc
    except telegram.TelegramForbidden:
        mark_telegram_chat_blocked(chat_id)
        logger.info("bot_reply_blocked", chat_id=chat_id)
    except (telegram.TelegramBadRequest, telegram.TelegramDisabled) as exc:
        logger.warning("bot_reply_dropped", chat_id=chat_id, error=str(exc))


@shared_task(name="integrations.requeue_unhandled_updates")
def requeue_unhandled_updates_task() -> int:
    """
    Queue the handling of updates accepted more than a minute ago but never
    handled (the broker was down when the webhook enqueued them). Handling
    claims each update, so an update queued twice is still acted on once.
    """
    now = timezone.now()
    update_ids = selectors.unhandled_update_ids(
        received_before=now - timedelta(minutes=1), received_after=now - timedelta(days=1)
    )
    for update_id in update_ids:
        handle_telegram_update_task.delay(update_id=update_id)
    return len(update_ids)


@shared_task(name="bot.purge_processed_updates", ignore_result=True)
def purge_processed_updates_task() -> int:
    return services.purge_processed_updates()
