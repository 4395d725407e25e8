"""The retention sweeps on beat: each deletes only what decides nothing any more, and twice is once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from bot.models import ProcessedUpdate
from bot.tasks import purge_processed_updates_task
from broadcasts import services as broadcasts
from broadcasts.models import Broadcast, Delivery
from broadcasts.tasks import purge_old_deliveries_task
from tests.factories import UserFactory
from users.models import BotLoginToken
from users.tasks import purge_expired_jwt_task, purge_expired_login_tokens_task

pytestmark = pytest.mark.django_db

SWEEPS = {
    "users.purge_expired_login_tokens",
    "users.purge_expired_jwt",
    "bot.purge_processed_updates",
    "broadcasts.purge_old_deliveries",
}


def test_each_sweep_is_on_beat_hourly_and_on_the_low_queue():
    scheduled = {e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {name: scheduled.get(name) for name in SWEEPS} == dict.fromkeys(SWEEPS, 3600.0)
    assert {name: settings.CELERY_TASK_ROUTES[name]["queue"] for name in SWEEPS} == dict.fromkeys(SWEEPS, "low")


def test_expired_bot_login_tokens_past_retention_are_deleted():
    now = timezone.now()
    old = BotLoginToken.objects.create(token="old", expires_at=now - timedelta(hours=25))
    recent = BotLoginToken.objects.create(token="recent", expires_at=now - timedelta(hours=1))
    live = BotLoginToken.objects.create(token="live", expires_at=now + timedelta(minutes=5))

    assert purge_expired_login_tokens_task.delay().get() == 1
    assert purge_expired_login_tokens_task.delay().get() == 0

    assert set(BotLoginToken.objects.values_list("pk", flat=True)) == {recent.pk, live.pk}
    assert old.pk not in set(BotLoginToken.objects.values_list("pk", flat=True))


def test_expired_refresh_token_rows_and_their_blacklist_rows_are_deleted():
    user = UserFactory()
    tokens = [RefreshToken.for_user(user) for _ in range(3)]
    expired, recent, live = OutstandingToken.objects.filter(user=user).order_by("id")
    now = timezone.now()
    OutstandingToken.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(hours=25))
    OutstandingToken.objects.filter(pk=recent.pk).update(expires_at=now - timedelta(hours=1))
    BlacklistedToken.objects.create(token=expired)
    BlacklistedToken.objects.create(token=live)

    assert purge_expired_jwt_task.delay().get() == 1
    assert purge_expired_jwt_task.delay().get() == 0

    assert set(OutstandingToken.objects.values_list("pk", flat=True)) == {recent.pk, live.pk}
    assert list(BlacklistedToken.objects.values_list("token_id", flat=True)) == [live.pk]
    assert len(tokens) == 3


def test_handled_updates_past_retention_are_deleted_unhandled_ones_kept():
    now = timezone.now()
    rows = {
        name: ProcessedUpdate.objects.create(update_id=i, payload={}, handled_at=handled)
        for i, (name, handled) in enumerate([("old", now), ("old_unhandled", None), ("recent", now)])
    }
    ProcessedUpdate.objects.filter(pk__in=[rows["old"].pk, rows["old_unhandled"].pk]).update(
        received_at=now - timedelta(days=8)
    )

    assert purge_processed_updates_task.delay().get() == 1
    assert purge_processed_updates_task.delay().get() == 0

    assert set(ProcessedUpdate.objects.values_list("update_id", flat=True)) == {1, 2}


def test_old_broadcast_deliveries_are_purged_in_batches_and_the_counts_kept(monkeypatch):
    monkeypatch.setattr(broadcasts, "PURGE_BATCH", 2)
    users = UserFactory.create_batch(5)
    now = timezone.now()

    def finished(days_ago: float, status: str = "completed") -> Broadcast:
        broadcast = Broadcast.objects.create(
            title="t", audience={"segment": "all"}, channels=["in_app"], status=status, total=5, sent=5
        )
        Delivery.objects.bulk_create(
            [Delivery(broadcast=broadcast, user=u, channel="in_app", state="sent") for u in users]
        )
        Broadcast.objects.filter(pk=broadcast.pk).update(finished_at=now - timedelta(days=days_ago))
        return broadcast

    old, old_cancelled, recent = finished(91), finished(100, "cancelled"), finished(10)
    sending = finished(200, "sending")  # still running: never purged, whatever its dates say

    assert purge_old_deliveries_task.delay().get() == 10
    assert purge_old_deliveries_task.delay().get() == 0

    left = {b.pk: Delivery.objects.filter(broadcast=b).count() for b in (old, old_cancelled, recent, sending)}
    assert left == {old.pk: 0, old_cancelled.pk: 0, recent.pk: 5, sending.pk: 5}
    old.refresh_from_db()
    assert (old.total, old.sent, old.status) == (5, 5, "completed")
