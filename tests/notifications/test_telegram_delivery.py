"""Telegram delivery: the shared rate limiter and what each Bot API answer does to a delivery row."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from broadcasts import services as broadcasts
from integrations import ratelimit
from notifications import delivery as sending
from notifications import services
from notifications.models import TelegramDelivery
from notifications.services import notify
from tests.notifications.conftest import telegram_user

pytestmark = pytest.mark.django_db


def _delivery_for(user, commit):
    with commit(execute=True):
        notify(user, kind="session_reminder", title="Hello")
    return TelegramDelivery.objects.get(user=user)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


# --- the limiter ---------------------------------------------------------------------


def test_rate_limiter_spaces_tokens_across_threads(settings):
    settings.TELEGRAM_RATE_LIMIT = 40
    taken: list[float] = []

    def take(n: int) -> None:
        for _ in range(n):
            ratelimit.acquire()
            taken.append(time.monotonic())

    threads = [threading.Thread(target=take, args=(5,)) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # 20 tokens at 40/s with a bucket of one: the first at once, then one every 25 ms.
    assert len(taken) == 20
    assert max(taken) - start >= 19 / 40 * 0.95
    assert max(taken) - start < 1.5


def test_rate_limiter_pause_blocks_everyone(settings):
    settings.TELEGRAM_RATE_LIMIT = 1000
    ratelimit.pause(0.5)

    wait = ratelimit.try_acquire()

    assert 0.3 < wait <= 0.5
    assert 0.3 < ratelimit.paused_for() <= 0.5


def test_rate_limiter_off_at_zero(settings):
    settings.TELEGRAM_RATE_LIMIT = 0

    assert [ratelimit.try_acquire() for _ in range(100)] == [0.0] * 100


# --- answers ---------------------------------------------------------------------------


def test_403_marks_the_user_unreachable_and_is_not_retried(fake_telegram, commit):
    user = telegram_user()
    fake_telegram.blocked_chats.add(user.telegram_chat_id)

    delivery = _delivery_for(user, commit)
    services.send_telegram_deliveries([delivery.pk])

    delivery.refresh_from_db()
    user.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert delivery.error == "Blocked: Forbidden: bot was blocked by the user"
    assert user.telegram_blocked_at is not None
    assert user.can_receive_telegram is False
    assert len(fake_telegram.calls_of("sendMessage")) == 1


def test_429_pause_holds_back_other_workers(db, fake_telegram):
    delivery = TelegramDelivery.objects.create(user=telegram_user(), channel="telegram")
    ratelimit.pause(30)

    result = services.send_telegram_deliveries([delivery.pk])

    # A long pause is not slept through: the task reports it and is rescheduled for then.
    delivery.refresh_from_db()
    assert 29 < result.paused_for <= 30
    assert fake_telegram.calls_of("sendMessage") == []
    assert (delivery.state, delivery.claimed_until) == ("pending", None)  # handed back for whoever runs next


def test_429_pauses_all_sending_then_sends(fake_telegram, commit):
    user = telegram_user()
    fake_telegram.fail("sendMessage", 429, retry_after=1)

    # The task waits out a short pause itself (the row went back to pending in between).
    delivery = _delivery_for(user, commit)

    delivery.refresh_from_db()
    calls = fake_telegram.calls_of("sendMessage")
    assert (delivery.state, delivery.attempts) == ("sent", 1)
    assert len(calls) == 2
    assert calls[1].at - calls[0].at >= 0.9


def test_5xx_is_retried_with_backoff_then_sent(fake_telegram, commit):
    user = telegram_user()
    fake_telegram.fail("sendMessage", 502)

    delivery = _delivery_for(user, commit)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.error) == ("pending", 1, "Bad Gateway")
    assert delivery.next_attempt_at > timezone.now()

    services.send_telegram_deliveries([delivery.pk])  # not due yet: nothing happens
    assert len(fake_telegram.calls_of("sendMessage")) == 1

    TelegramDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    broadcasts.dispatch_due()

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.error) == ("sent", 2, "")


def test_5xx_gives_up_after_max_attempts_with_the_reason(fake_telegram, commit):
    user = telegram_user()
    fake_telegram.fail("sendMessage", 500, times=sending.TELEGRAM_MAX_ATTEMPTS)

    delivery = _delivery_for(user, commit)
    for _ in range(sending.TELEGRAM_MAX_ATTEMPTS - 1):
        TelegramDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        services.send_telegram_deliveries([delivery.pk])

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", sending.TELEGRAM_MAX_ATTEMPTS)
    assert delivery.error == "Gave up after 5 attempts: Internal Server Error"
    assert len(fake_telegram.calls_of("sendMessage")) == sending.TELEGRAM_MAX_ATTEMPTS


def test_long_body_is_split_into_several_messages(fake_telegram, commit):
    user = telegram_user()

    with commit(execute=True):
        notify(user, kind="session_reminder", title="Agenda", body="\n\n".join(["x" * 3000] * 3))

    texts = fake_telegram.sent_texts(user.telegram_chat_id)
    assert len(texts) == 3
    assert texts[0] == "<b>Agenda</b>\n\n" + "x" * 3000
    assert TelegramDelivery.objects.get(user=user).state == "sent"


def test_row_left_sending_past_the_lease_is_reported_not_resent(fake_telegram, settings, commit):
    settings.BROADCAST_SENDING_LEASE_SECONDS = 60
    user = telegram_user()
    fake_telegram.fail("sendMessage", 502)
    delivery = _delivery_for(user, commit)
    # As a worker killed during its request leaves it: marked sending, never settled.
    TelegramDelivery.objects.filter(pk=delivery.pk).update(
        state="sending", sending_at=timezone.now() - timedelta(seconds=61), next_attempt_at=None
    )

    broadcasts.dispatch_due()
    services.send_telegram_deliveries([delivery.pk])

    delivery.refresh_from_db()
    assert delivery.state == "failed"
    assert delivery.error == sending.UNKNOWN_OUTCOME
    assert len(fake_telegram.calls_of("sendMessage")) == 1


def test_row_sending_within_the_lease_is_left_alone(db, settings):
    settings.BROADCAST_SENDING_LEASE_SECONDS = 60
    user = telegram_user()
    delivery = TelegramDelivery.objects.create(
        user=user, channel="telegram", state="sending", sending_at=timezone.now()
    )

    broadcasts.dispatch_due()

    delivery.refresh_from_db()
    assert delivery.state == "sending"


def test_pending_rows_of_a_dead_lane_are_resent(fake_telegram, commit):
    # Pending rows never reached Telegram: resending them cannot duplicate.
    users = [telegram_user() for _ in range(3)]
    broadcast = broadcasts.create_broadcast(title="t", audience={"segment": "all"}, channels=["telegram"])
    broadcasts.start_broadcast(broadcast.pk)

    with commit(execute=True):
        broadcasts.dispatch_due()

    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.sent) == ("completed", 3)
    assert sorted(int(c.params["chat_id"]) for c in fake_telegram.calls_of("sendMessage")) == sorted(
        u.telegram_chat_id for u in users
    )
