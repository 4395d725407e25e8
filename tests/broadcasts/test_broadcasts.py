"""Broadcasts: audience segments, expansion, sending, progress, cancel, the admin API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from broadcasts import audiences, services
from broadcasts.models import Broadcast, Delivery
from conferences.models import AttendanceStatus
from events.models import RSVP, RSVPStatus
from integrations.telegram_sender import TelegramSender
from notifications import delivery as sending
from notifications.models import Notification
from tests.conftest import client_for
from tests.factories import AttendanceFactory, ConferenceFactory, EventFactory, UserFactory
from tests.notifications.conftest import telegram_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """``with commit():`` runs the on-commit callbacks (task enqueues, pushes) of the block, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _payload(**overrides):
    return {
        "title": "Doors open",
        "body": "Hall B <now>",
        "audience": {"segment": "all"},
        "channels": ["in_app", "telegram"],
        **overrides,
    }


# --- audiences ---------------------------------------------------------------------


def test_segment_all_without_conference_is_every_active_user(db):
    UserFactory.create_batch(3)
    UserFactory(is_active=False)

    assert audiences.preview_audience({"segment": "all"}) == 3


def test_segment_all_with_conference_is_its_attendees_and_event_guests(db):
    conference = ConferenceFactory()
    AttendanceFactory(conference=conference)
    guest = UserFactory()
    RSVP.objects.create(event=EventFactory(conference=conference), user=guest, status=RSVPStatus.GOING)
    AttendanceFactory()  # another conference
    UserFactory()

    assert audiences.preview_audience({"segment": "all", "conference": conference.slug}) == 2


def test_segment_attendees_and_checked_in(db):
    conference = ConferenceFactory()
    AttendanceFactory.create_batch(2, conference=conference)
    AttendanceFactory(conference=conference, status=AttendanceStatus.CHECKED_IN)

    assert audiences.preview_audience({"segment": "attendees", "conference": conference.slug}) == 3
    assert audiences.preview_audience({"segment": "checked_in", "conference": conference.slug}) == 1


def test_segment_event_going_excludes_waitlist(db):
    event = EventFactory()
    RSVP.objects.create(event=event, user=UserFactory(), status=RSVPStatus.GOING)
    RSVP.objects.create(event=event, user=UserFactory(), status=RSVPStatus.WAITLISTED)

    assert audiences.preview_audience({"segment": "event_going", "event": event.pk}) == 1


def test_segment_quest_completed(db):
    from quests.models import Quest, QuestCompletion

    quest = Quest.objects.create(title="Explorer")
    QuestCompletion.objects.create(quest=quest, user=UserFactory())
    QuestCompletion.objects.create(quest=Quest.objects.create(title="Other"), user=UserFactory())
    UserFactory()

    assert audiences.preview_audience({"segment": "quest_completed", "quest": quest.pk}) == 1


def test_segment_quest_completed_unknown_quest_is_400(admin_api):
    response = admin_api.post(
        "/api/v1/admin/broadcasts/preview/", {"audience": {"segment": "quest_completed", "quest": 999999}}
    )

    assert response.status_code == 400
    assert response.json()["details"] == {"audience": {"quest": ["An existing quest is required."]}}


def test_preview_endpoint(admin_api):
    conference = ConferenceFactory()
    AttendanceFactory.create_batch(2, conference=conference)

    response = admin_api.post(
        "/api/v1/admin/broadcasts/preview/", {"audience": {"segment": "attendees", "conference": conference.slug}}
    )

    assert response.status_code == 200
    assert response.json() == {"total": 2}


def test_preview_unknown_conference_is_400(admin_api):
    response = admin_api.post(
        "/api/v1/admin/broadcasts/preview/", {"audience": {"segment": "attendees", "conference": "nope"}}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == {"audience": {"conference": ["No conference with this slug."]}}


def test_event_going_without_event_is_400(admin_api):
    response = admin_api.post("/api/v1/admin/broadcasts/preview/", {"audience": {"segment": "event_going"}})

    assert response.status_code == 400
    assert response.json()["details"] == {"audience": {"event": ["Required for the event_going segment."]}}


# --- sending -----------------------------------------------------------------------------


def test_create_sends_to_everyone_once(admin_api, fake_telegram, commit):
    plain = UserFactory()
    linked = telegram_user()
    muted = telegram_user(notify_telegram=False)

    with commit():
        response = admin_api.post("/api/v1/admin/broadcasts/", _payload(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "queued"
    broadcast = Broadcast.objects.get(pk=body["id"])
    assert (broadcast.status, broadcast.total, broadcast.sent, broadcast.failed) == ("completed", 4, 4, 0)
    assert broadcast.started_at is not None and broadcast.finished_at is not None
    assert sorted(Notification.objects.filter(kind="broadcast").values_list("user_id", flat=True)) == sorted(
        [plain.pk, linked.pk, muted.pk]
    )
    assert fake_telegram.sent_texts(linked.telegram_chat_id) == ["<b>Doors open</b>\n\nHall B &lt;now&gt;"]
    assert len(fake_telegram.calls_of("sendMessage")) == 1
    assert Notification.objects.get(user=plain).data == {"broadcast": broadcast.pk}


def test_detail_and_list_show_progress(admin_api, fake_telegram, commit):
    telegram_user()
    with commit():
        broadcast_id = admin_api.post("/api/v1/admin/broadcasts/", _payload(), format="json").json()["id"]

    detail = admin_api.get(f"/api/v1/admin/broadcasts/{broadcast_id}/").json()
    listing = admin_api.get("/api/v1/admin/broadcasts/").json()

    assert {k: detail[k] for k in ("status", "total", "sent", "failed", "progress")} == {
        "status": "completed",
        "total": 2,
        "sent": 2,
        "failed": 0,
        "progress": 1.0,
    }
    assert [b["id"] for b in listing["results"]] == [broadcast_id]


@pytest.mark.parametrize("items", [1, 5])
def test_broadcast_list_query_count_is_constant(admin_api, items, django_assert_max_num_queries):
    for i in range(items):
        Broadcast.objects.create(title=f"b{i}", audience={"segment": "all"}, channels=["in_app"])

    with django_assert_max_num_queries(2):
        response = admin_api.get("/api/v1/admin/broadcasts/")

    assert response.json()["count"] == items


def test_broadcast_endpoints_are_admin_only(user_api):
    assert user_api.get("/api/v1/admin/broadcasts/").status_code == 403
    assert user_api.post("/api/v1/admin/broadcasts/", _payload(), format="json").status_code == 403
    assert user_api.post("/api/v1/admin/broadcasts/preview/", {"audience": {"segment": "all"}}).status_code == 403


def test_staff_jwt_creates_and_is_recorded(admin_user, commit):
    with commit():
        response = client_for(admin_user).post(
            "/api/v1/admin/broadcasts/", _payload(channels=["in_app"]), format="json"
        )

    assert response.status_code == 201
    assert Broadcast.objects.get().created_by == admin_user


def test_scheduled_broadcast_waits_for_send_at(admin_api, fake_telegram, commit, time_machine):
    UserFactory()
    send_at = timezone.now() + timedelta(minutes=10)

    with commit():
        response = admin_api.post(
            "/api/v1/admin/broadcasts/", _payload(send_at=send_at.isoformat(), channels=["in_app"]), format="json"
        )

    broadcast = Broadcast.objects.get(pk=response.json()["id"])
    assert response.json()["status"] == "scheduled"
    assert broadcast.status == "scheduled"  # the eager ETA task ran early and left it alone
    assert Notification.objects.count() == 0

    time_machine.move_to(send_at + timedelta(seconds=1))
    with commit():
        services.dispatch_due()

    broadcast.refresh_from_db()
    assert broadcast.status == "completed"
    assert Notification.objects.count() == 1


def test_cancel_stops_what_was_not_sent(admin_api, fake_telegram):
    UserFactory.create_batch(3)
    broadcast = services.create_broadcast(
        title="t", audience={"segment": "all"}, channels=["in_app"], send_at=timezone.now() + timedelta(hours=1)
    )

    response = admin_api.post(f"/api/v1/admin/broadcasts/{broadcast.pk}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert services.start_broadcast(broadcast.pk) is False
    assert Notification.objects.count() == 0


def test_cancel_midway_leaves_sent_rows_and_cancels_the_rest(db, fake_telegram):
    users = [telegram_user() for _ in range(4)]
    broadcast = services.create_broadcast(title="t", audience={"segment": "all"}, channels=["telegram"])
    services.start_broadcast(broadcast.pk)
    first = Delivery.objects.filter(broadcast=broadcast).order_by("id").first()
    [claimed] = sending.claim(Delivery.objects.filter(pk=first.pk), related=("broadcast",))
    assert sending._mark_sending(claimed)
    with TelegramSender() as sender:
        assert sending._deliver(sender, claimed)

    cancelled = services.cancel_broadcast(broadcast)
    services.send_telegram_batch(broadcast.pk)

    assert (cancelled.status, cancelled.total, cancelled.sent, cancelled.failed) == ("cancelled", 4, 1, 0)
    assert sorted(Delivery.objects.filter(broadcast=broadcast).values_list("state", flat=True)) == [
        "cancelled",
        "cancelled",
        "cancelled",
        "sent",
    ]
    assert len(fake_telegram.calls_of("sendMessage")) == 1
    assert users


def test_cancel_finished_broadcast_is_409(admin_api, commit):
    with commit():
        broadcast = services.create_broadcast(title="t", audience={"segment": "all"}, channels=["in_app"])
    broadcast.refresh_from_db()
    assert broadcast.status == "completed"

    response = admin_api.post(f"/api/v1/admin/broadcasts/{broadcast.pk}/cancel/")

    assert response.status_code == 409
    assert response.json()["code"] == "BROADCAST_FINISHED"


def test_unknown_broadcast_is_404(admin_api):
    assert admin_api.get("/api/v1/admin/broadcasts/999999/").status_code == 404
    assert admin_api.post("/api/v1/admin/broadcasts/999999/cancel/").status_code == 404


def test_starting_twice_expands_once(db):
    UserFactory.create_batch(3)
    broadcast = services.create_broadcast(
        title="t", audience={"segment": "all"}, channels=["in_app"], send_at=timezone.now() - timedelta(seconds=1)
    )

    assert services.start_broadcast(broadcast.pk) is True
    assert services.start_broadcast(broadcast.pk) is False
    assert Delivery.objects.filter(broadcast=broadcast).count() == 3


def test_in_app_batches_never_duplicate(db):
    UserFactory.create_batch(3)
    broadcast = services.create_broadcast(title="t", audience={"segment": "all"}, channels=["in_app"])
    services.start_broadcast(broadcast.pk)

    services.send_in_app_batches(broadcast.pk)
    services.send_in_app_batches(broadcast.pk)

    assert Notification.objects.filter(kind="broadcast").count() == 3
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.sent) == ("completed", 3)


def test_empty_audience_completes_at_once(db, commit):
    with commit():
        broadcast = services.create_broadcast(
            title="t", audience={"segment": "attendees", "conference": ConferenceFactory().slug}, channels=["in_app"]
        )

    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.total) == ("completed", 0)
