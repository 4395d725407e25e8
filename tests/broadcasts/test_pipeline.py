"""
The Telegram pipeline under load: paid broadcasts, and single-person sends
taking precedence over broadcast lanes in the shared rate limiter.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from django.db import connection

from broadcasts import services
from broadcasts.models import Broadcast, Delivery
from integrations import ratelimit
from notifications import services as notifications
from notifications.models import Notification, TelegramDelivery
from tests.factories import UserFactory
from tests.notifications.conftest import telegram_user
from users.models import User


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def test_paid_mode_sends_broadcasts_with_allow_paid_broadcast_and_single_sends_without(
    db, settings, fake_telegram, commit
):
    settings.TELEGRAM_PAID_BROADCAST = True
    users = [telegram_user() for _ in range(3)]
    with commit(execute=True):
        broadcast = services.create_broadcast(title="Keynote", audience={"segment": "all"}, channels=["telegram"])
    with commit(execute=True):
        notifications.notify(users[0], kind="session_reminder", title="Starts soon")

    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.sent) == ("completed", 3)
    calls = fake_telegram.calls_of("sendMessage")
    by_text = {(int(c.params["chat_id"]), c.params["text"]): c.params.get("allow_paid_broadcast") for c in calls}
    assert by_text == {
        **{(u.telegram_chat_id, "<b>Keynote</b>"): True for u in users},
        (users[0].telegram_chat_id, "<b>Starts soon</b>"): None,
    }


def test_free_mode_sends_without_allow_paid_broadcast(db, fake_telegram, commit):
    user = telegram_user()
    with commit(execute=True):
        services.create_broadcast(title="Keynote", audience={"segment": "all"}, channels=["telegram"])

    [call] = fake_telegram.calls_of("sendMessage")
    assert (int(call.params["chat_id"]), "allow_paid_broadcast" in call.params) == (user.telegram_chat_id, False)


def test_paid_bucket_is_separate_and_gives_windows_of_tokens(settings):
    settings.TELEGRAM_RATE_LIMIT = 25

    # 1,000/s holds 50 ms of tokens (47.6, refilled at 952.4/s: never more than 1,000 in a second).
    assert ratelimit.bucket_shape(1000) == pytest.approx((952.38, 47.62), abs=0.01)
    assert ratelimit.try_acquire_many(100, rate=1000, bucket=ratelimit.PAID_BUCKET_KEY, background=True) == (47, 0.0)
    # The free bucket is untouched by that and still gives one message at a time.
    assert ratelimit.try_acquire_many(32)[0] == 1


def _saturate(stop: threading.Event, taken: list[float], *, rate: float) -> None:
    """A broadcast lane that takes every token it can get."""
    while not stop.is_set():
        ratelimit.acquire_many(1, rate=rate, background=True, max_wait=5)
        taken.append(time.monotonic())


def test_single_send_waits_about_one_token_while_broadcast_lanes_saturate_the_limiter(settings):
    rate = 10.0  # 100 ms between messages
    settings.TELEGRAM_RATE_LIMIT = rate
    stop = threading.Event()
    background: list[float] = []
    lanes = [threading.Thread(target=_saturate, args=(stop, background), kwargs={"rate": rate}) for _ in range(4)]
    for lane in lanes:
        lane.start()
    waits = []
    try:
        time.sleep(0.3)
        measured_from, before = time.monotonic(), len(background)
        for _ in range(6):
            started = time.monotonic()
            assert ratelimit.acquire(max_wait=5) == 0.0
            waits.append(time.monotonic() - started)
            time.sleep(0.13)
        # And the lanes, without precedence, for comparison: a fifth contender among equals.
        fair = []
        for _ in range(6):
            started = time.monotonic()
            ratelimit.acquire_many(1, rate=rate, background=True, max_wait=5)
            fair.append(time.monotonic() - started)
            time.sleep(0.13)
        span, lanes_took = time.monotonic() - measured_from, len(background) - before
    finally:
        stop.set()
        for lane in lanes:
            lane.join()

    # The lanes kept the limiter busy the whole time: with the 12 takes above, about ``rate`` a second ...
    assert lanes_took + 12 >= 0.8 * rate * span, (lanes_took, span)
    # ... and each single send still got the next token: at most one spacing (+ a late wake-up).
    assert max(waits) < 1.6 / rate, waits
    # Among equals the same take waits for several lanes' turns.
    assert sum(fair) > 2 * sum(waits), (fair, waits)


@pytest.mark.django_db(transaction=True)
def test_reminder_copy_is_sent_promptly_while_broadcast_lanes_run(settings, fake_telegram):
    if connection.vendor != "postgresql":
        pytest.skip("lanes in threads claim rows with skip locked: PostgreSQL")
    settings.TELEGRAM_RATE_LIMIT = 5  # 200 ms between messages
    for _ in range(60):
        telegram_user()
    broadcast = Broadcast.objects.create(title="Keynote", audience={"segment": "all"}, channels=["telegram"])
    _expand(broadcast.pk)
    person = telegram_user()
    note = Notification.objects.create(user=person, kind="session_reminder", title="Starts soon")
    reminder = TelegramDelivery.objects.create(user=person, notification=note, channel="telegram")

    def lane() -> None:
        try:
            services.send_telegram_batch(broadcast.pk, budget_seconds=2.5)
        finally:
            connection.close()

    lanes = [threading.Thread(target=lane) for _ in range(3)]
    for t in lanes:
        t.start()
    try:
        time.sleep(0.6)
        started = time.monotonic()
        notifications.send_telegram_deliveries([reminder.pk])
        elapsed = time.monotonic() - started
    finally:
        for t in lanes:
            t.join()

    reminder.refresh_from_db()
    assert reminder.state == "sent"
    # One token's spacing (200 ms) plus the request, not a turn among the three lanes (600 ms and more).
    assert elapsed < 0.4, elapsed
    sent_after = [c for c in fake_telegram.calls_of("sendMessage") if c.at > started + elapsed]
    assert sent_after, "the lanes were still sending after the reminder went out"
    assert Delivery.objects.filter(broadcast=broadcast, state="sent").count() >= 5


def _expand(broadcast_id: int) -> None:
    """Expand the broadcast's audience into delivery rows without enqueuing its lanes (the test runs them)."""
    Delivery.objects.bulk_create(
        [
            Delivery(broadcast_id=broadcast_id, user_id=pk, channel="telegram")
            for pk in User.objects.filter(telegram_chat_id__isnull=False).values_list("pk", flat=True)
        ]
    )
    Broadcast.objects.filter(pk=broadcast_id).update(status="sending", total=Delivery.objects.count())


def test_in_app_pushes_refused_by_a_full_socket_queue_are_counted_on_the_broadcast(
    db, settings, admin_api, commit, caplog
):
    from channels.layers import channel_layers, get_channel_layer  # noqa: PLC0415 (the layer the settings below make)

    from notifications.realtime import user_group  # noqa: PLC0415

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "ibw.channel_layer.VenueChannelLayer",
            "CONFIG": {
                **settings.CHANNEL_LAYERS["default"]["CONFIG"],
                "prefix": f"test:{uuid.uuid4().hex[:8]}",
                "channel_capacity": {"specific.*": 1},
            },
        }
    }
    channel_layers.backends.clear()
    people = [UserFactory() for _ in range(3)]
    layer = get_channel_layer()

    async def connect_all():
        # Three sockets of one socket process: one queue, which holds a single message.
        for person in people:
            await layer.group_add(user_group(person.pk), await layer.new_channel())

    asyncio.run(connect_all())
    try:
        with commit(execute=True):
            broadcast = services.create_broadcast(title="Keynote", audience={"segment": "all"}, channels=["in_app"])
    finally:
        channel_layers.backends.clear()

    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.sent, broadcast.socket_refused) == ("completed", 3, 2)
    body = admin_api.get(f"/api/v1/admin/broadcasts/{broadcast.pk}/").json()
    assert (body["sent"], body["socket_refused"]) == (3, 2)
    assert "broadcast_socket_pushes_refused" in caplog.text
    # Refused on the socket, still in everyone's inbox.
    assert sorted(Notification.objects.filter(kind="broadcast").values_list("user_id", flat=True)) == sorted(
        p.pk for p in people
    )
