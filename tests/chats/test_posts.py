"""Posting into announcements chats: the broadcast channel ``telegram_chats`` and schedule changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from broadcasts.models import Broadcast, Delivery
from broadcasts.services import cancel_broadcast, create_broadcast, start_broadcast
from chats import services
from chats.models import ChatPost, ChatStatus
from conferences import changes
from conferences.services import update_session
from notifications.models import DeliveryState, Notification
from tests.chats.conftest import linked_chat
from tests.factories import AttendanceFactory, ConferenceFactory, SessionFactory

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def chats(fake_telegram, conference):
    """Two active announcements chats of the conference, and chats that must hear nothing."""
    news = linked_chat(fake_telegram, conference, purpose="announcements", type="channel", title="News")
    board = linked_chat(fake_telegram, conference, purpose="announcements", title="Board")
    linked_chat(fake_telegram, conference, purpose="community")
    gone = linked_chat(fake_telegram, conference, purpose="announcements")
    gone.status = ChatStatus.INACTIVE
    gone.save()
    linked_chat(fake_telegram, ConferenceFactory(), purpose="announcements")
    return [news, board]


def _posted(fake_telegram) -> list[tuple[int, str]]:
    return sorted((int(c.params["chat_id"]), c.params["text"]) for c in fake_telegram.calls_of("sendMessage"))


def test_a_broadcast_to_telegram_chats_posts_once_into_each_announcements_chat(
    fake_telegram, admin_api, commit, conference, chats
):
    AttendanceFactory.create_batch(3, conference=conference)  # people get nothing on this channel
    body = {
        "title": "Doors open",
        "body": "Hall B <now>",
        "audience": {"segment": "attendees", "conference": conference.slug},
        "channels": ["telegram_chats"],
    }

    with commit():
        response = admin_api.post("/api/v1/admin/broadcasts/", body, format="json")

    assert response.status_code == 201
    text = "<b>Doors open</b>\n\nHall B &lt;now&gt;"
    assert _posted(fake_telegram) == sorted((c.chat_id, text) for c in chats)
    broadcast = admin_api.get(f"/api/v1/admin/broadcasts/{response.json()['id']}/").json()
    assert (broadcast["status"], broadcast["total"], broadcast["sent"], broadcast["failed"]) == ("completed", 2, 2, 0)
    assert not Delivery.objects.exists()
    assert not Notification.objects.exists()


def test_posts_count_with_in_app_deliveries(fake_telegram, admin_api, commit, conference, chats):
    AttendanceFactory.create_batch(3, conference=conference)
    body = {
        "title": "Lunch",
        "audience": {"segment": "attendees", "conference": conference.slug},
        "channels": ["in_app", "telegram_chats"],
    }

    with commit():
        response = admin_api.post("/api/v1/admin/broadcasts/", body, format="json")

    broadcast = Broadcast.objects.get(pk=response.json()["id"])
    assert (broadcast.status, broadcast.total, broadcast.sent) == ("completed", 5, 5)
    assert Notification.objects.count() == 3
    assert len(fake_telegram.calls_of("sendMessage")) == 2


def test_only_telegram_chats_without_a_conference_is_400(fake_telegram, admin_api):
    body = {"title": "Hi", "audience": {"segment": "all"}, "channels": ["telegram_chats"]}

    response = admin_api.post("/api/v1/admin/broadcasts/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == {
        "audience": {"conference": ["Required when the only channel is telegram_chats."]}
    }
    assert not Broadcast.objects.exists()


def test_a_post_is_sent_once_however_often_the_lane_runs(fake_telegram, conference, chats):
    assert services.create_posts(conference.pk, source="broadcast:1", title="T", body="B") == 2
    assert services.create_posts(conference.pk, source="broadcast:1", title="T", body="B") == 2

    services.send_posts("broadcast:1")
    services.send_posts("broadcast:1")

    assert len(fake_telegram.calls_of("sendMessage")) == 2
    assert set(ChatPost.objects.values_list("state", flat=True)) == {DeliveryState.SENT}


def test_a_post_cut_off_mid_request_is_reported_not_resent(fake_telegram, conference, chats):
    services.create_posts(conference.pk, source="broadcast:2", title="T", body="")
    long_ago = timezone.now() - timedelta(hours=1)
    ChatPost.objects.filter(chat=chats[0]).update(state=DeliveryState.SENDING, sending_at=long_ago)

    services.sweep()
    services.send_posts("broadcast:2")

    cut_off = ChatPost.objects.get(chat=chats[0])
    assert cut_off.state == DeliveryState.FAILED
    assert cut_off.error.startswith("outcome unknown")
    assert [int(c.params["chat_id"]) for c in fake_telegram.calls_of("sendMessage")] == [chats[1].chat_id]


def test_a_429_on_a_post_pauses_and_the_post_goes_out_later_once(fake_telegram, conference, chats):
    fake_telegram.fail("sendMessage", 429, retry_after=1)
    services.create_posts(conference.pk, source="broadcast:3", title="T", body="")

    first = services.send_posts("broadcast:3", budget_seconds=0.5)
    services.send_posts("broadcast:3", budget_seconds=5)

    assert first.sent == 1
    assert ChatPost.objects.filter(state=DeliveryState.SENT).count() == 2
    assert len(fake_telegram.calls_of("sendMessage")) == 3  # one refused, then each chat once


def test_a_schedule_change_posts_the_net_change_once_after_the_window(
    fake_telegram, conference, chats, django_capture_on_commit_callbacks
):
    starts = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
    session = SessionFactory(conference=conference, title="Keynote", starts_at=starts, ends_at=starts + HOUR)

    with django_capture_on_commit_callbacks(execute=True):
        update_session(session, starts_at=starts + HOUR / 2, ends_at=starts + HOUR * 1.5)
    with django_capture_on_commit_callbacks(execute=True):
        update_session(session, starts_at=starts + HOUR, ends_at=starts + HOUR * 2)
    assert fake_telegram.calls_of("sendMessage") == []  # the window has not passed

    with django_capture_on_commit_callbacks(execute=True):
        changes.flush_due(now=timezone.now() + timedelta(seconds=120))
    with django_capture_on_commit_callbacks(execute=True):
        changes.flush_due(now=timezone.now() + timedelta(seconds=240))

    text = "<b>Changed: Keynote</b>\n\nKeynote moved from 10:00 to 11:00."
    assert _posted(fake_telegram) == sorted((c.chat_id, text) for c in chats)
    assert ChatPost.objects.filter(source__startswith="schedule:", state="sent").count() == 2


def test_a_schedule_change_undone_within_the_window_posts_nothing(
    fake_telegram, conference, chats, django_capture_on_commit_callbacks
):
    session = SessionFactory(conference=conference)
    starts, ends = session.starts_at, session.ends_at

    with django_capture_on_commit_callbacks(execute=True):
        update_session(session, starts_at=starts + timedelta(minutes=30), ends_at=ends + timedelta(minutes=30))
    with django_capture_on_commit_callbacks(execute=True):
        update_session(session, starts_at=starts, ends_at=ends)
    with django_capture_on_commit_callbacks(execute=True):
        changes.flush_due(now=timezone.now() + timedelta(seconds=120))

    assert fake_telegram.calls_of("sendMessage") == []
    assert not ChatPost.objects.exists()


def test_cancelling_a_broadcast_cancels_its_pending_posts(fake_telegram, conference, chats):
    broadcast = create_broadcast(
        title="Later", audience={"segment": "all", "conference": conference.slug}, channels=["telegram_chats"]
    )
    start_broadcast(broadcast.pk)  # posts created, not yet sent (the lane task runs on commit)

    cancelled = cancel_broadcast(broadcast)

    assert cancelled.status == "cancelled"
    assert (cancelled.total, cancelled.sent) == (2, 0)
    assert set(ChatPost.objects.values_list("state", flat=True)) == {DeliveryState.CANCELLED}
    assert fake_telegram.calls_of("sendMessage") == []
