"""
A database from before broadcasts had their own app migrates without losing
or duplicating a row: broadcasts and their deliveries stay in their tables,
``notify``'s Telegram copies move to theirs with their ids, and stored
notification data takes the contract's keys.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from broadcasts.models import Broadcast, Delivery
from notifications.models import Notification, TelegramDelivery

BEFORE = [("notifications", "0004_delivery_claimed_until")]
AFTER = [("notifications", "0007_notification_kinds"), ("broadcasts", "0002_socket_refused")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_moving_broadcasts_keeps_every_row():
    old = _migrate(BEFORE)
    User = old.get_model("users", "User")
    OldNotification = old.get_model("notifications", "Notification")
    OldBroadcast = old.get_model("notifications", "Broadcast")
    OldDelivery = old.get_model("notifications", "Delivery")
    ContentType = old.get_model("contenttypes", "ContentType")
    ContentType.objects.get_or_create(app_label="notifications", model="broadcast")
    alice = User.objects.create(username="alice", telegram_chat_id=501)
    bob = User.objects.create(username="bob", telegram_chat_id=502)
    broadcast = OldBroadcast.objects.create(
        title="Doors", body="Hall B", audience={"segment": "all"}, channels=["in_app", "telegram"], status="sending"
    )
    sent = OldDelivery.objects.create(broadcast=broadcast, user=alice, channel="in_app", state="sent", attempts=1)
    pending = OldDelivery.objects.create(broadcast=broadcast, user=bob, channel="telegram", state="pending")
    told = OldNotification.objects.create(
        user=alice, kind="connection_request", title="Bob wants to connect", data={"connection_id": 7, "user_id": 2}
    )
    announced = OldNotification.objects.create(
        user=bob, kind="broadcast", title="Doors", data={"broadcast_id": broadcast.pk}
    )
    copy = OldDelivery.objects.create(notification=told, user=alice, channel="telegram", state="pending", attempts=2)
    failed_copy = OldDelivery.objects.create(
        notification=None, user=bob, channel="telegram", state="failed", error="Blocked: Forbidden"
    )

    _migrate(AFTER)

    assert Broadcast.objects.get().title == "Doors"
    assert sorted(Delivery.objects.values_list("id", "broadcast_id", "user_id", "channel", "state")) == [
        (sent.pk, broadcast.pk, alice.pk, "in_app", "sent"),
        (pending.pk, broadcast.pk, bob.pk, "telegram", "pending"),
    ]
    assert sorted(
        TelegramDelivery.objects.values_list("id", "notification_id", "user_id", "state", "attempts", "error")
    ) == [
        (copy.pk, told.pk, alice.pk, "pending", 2, ""),
        (failed_copy.pk, None, bob.pk, "failed", 0, "Blocked: Forbidden"),
    ]
    assert Notification.objects.get(pk=told.pk).data == {"connection": 7, "user": 2}
    assert Notification.objects.get(pk=announced.pk).data == {"broadcast": broadcast.pk}
    # New rows get fresh ids after the moved ones.
    assert TelegramDelivery.objects.create(user_id=alice.pk, channel="telegram").pk > failed_copy.pk
    assert Delivery.objects.create(broadcast_id=broadcast.pk, user_id=alice.pk, channel="telegram").pk > copy.pk
    assert ContentType.objects.filter(app_label="broadcasts", model="broadcast").exists()
