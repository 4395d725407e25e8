"""Guests hear of a side event's changes, its cancellation and its host's messages."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from events.models import RSVP, EventMessage, RSVPStatus
from events.services import message_guests
from notifications.models import Notification
from tests.conftest import client_for
from tests.factories import ConferenceFactory, EventFactory, UserFactory
from tests.notifications.conftest import telegram_user

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def host():
    return UserFactory(roles=["organizer"])


@pytest.fixture
def event(host):
    starts = datetime(2030, 6, 4, 19, 0, tzinfo=BERLIN)
    return EventFactory(
        host=host,
        conference=ConferenceFactory(timezone="Europe/Berlin"),
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        capacity=1,
        location="Rooftop bar",
    )


def _guests(event):
    going, waiting = UserFactory(), UserFactory()
    RSVP.objects.create(event=event, user=going, status=RSVPStatus.GOING)
    RSVP.objects.create(event=event, user=waiting, status=RSVPStatus.WAITLISTED)
    return going, waiting


def test_a_new_time_and_place_notifies_going_and_waitlisted(event, host):
    going, waiting = _guests(event)
    UserFactory()

    response = client_for(host).patch(
        f"/api/v1/events/{event.pk}/",
        {"starts_at": "2030-06-04T20:00:00+02:00", "ends_at": "2030-06-04T22:30:00+02:00", "location": "Pier 3"},
        format="json",
    )

    assert response.status_code == 200
    rows = list(Notification.objects.order_by("user_id").values("user_id", "kind", "title", "body", "data"))
    expected = {
        "kind": "event_changed",
        "title": f"Changed: {event.title}",
        "body": f"{event.title} is now Tue 04 Jun, 20:00–22:30, now at Pier 3.",
        "data": {
            "event": event.pk,
            "changes": {
                "starts_at": ["2030-06-04T17:00:00+00:00", "2030-06-04T18:00:00+00:00"],
                "ends_at": ["2030-06-04T19:00:00+00:00", "2030-06-04T20:30:00+00:00"],
                "location": ["Rooftop bar", "Pier 3"],
            },
        },
    }
    assert rows == [{"user_id": going.pk, **expected}, {"user_id": waiting.pk, **expected}]


def test_an_edit_of_the_description_notifies_nobody(event, host):
    _guests(event)
    client_for(host).patch(f"/api/v1/events/{event.pk}/", {"description": "Bring a friend"}, format="json")
    assert Notification.objects.count() == 0


def test_a_delete_notifies_event_cancelled(event, host):
    going, waiting = _guests(event)
    assert client_for(host).delete(f"/api/v1/events/{event.pk}/").status_code == 204
    assert sorted(Notification.objects.values_list("user_id", "kind")) == sorted(
        [(going.pk, "event_cancelled"), (waiting.pk, "event_cancelled")]
    )


def test_the_host_messages_the_guests(event, host, fake_telegram, django_capture_on_commit_callbacks):
    going = telegram_user()
    RSVP.objects.create(event=event, user=going, status=RSVPStatus.GOING)
    waiting = UserFactory()
    RSVP.objects.create(event=event, user=waiting, status=RSVPStatus.WAITLISTED)
    url = f"/api/v1/events/{event.pk}/messages/"

    with django_capture_on_commit_callbacks(execute=True):
        only_going = client_for(host).post(url, {"text": "Doors open at 18:45"}, format="json")
    everyone = client_for(host).post(url, {"text": "Queue at the side door", "include_waitlist": True}, format="json")

    assert (only_going.status_code, only_going.json()) == (201, {"recipients": 1})
    assert (everyone.status_code, everyone.json()) == (201, {"recipients": 2})
    assert list(Notification.objects.filter(user=going).order_by("id").values_list("kind", "body", "data")) == [
        ("event_message", "Doors open at 18:45", {"event": event.pk}),
        ("event_message", "Queue at the side door", {"event": event.pk}),
    ]
    assert list(Notification.objects.filter(user=waiting).values_list("body", flat=True)) == ["Queue at the side door"]
    assert "Doors open at 18:45" in fake_telegram.sent_texts(going.telegram_chat_id)[0]


def test_only_the_host_or_an_admin_messages(event, admin_api, api):
    url = f"/api/v1/events/{event.pk}/messages/"
    assert client_for(UserFactory()).post(url, {"text": "hi"}, format="json").status_code == 403
    assert api.post(url, {"text": "hi"}, format="json").status_code == 401
    assert admin_api.post(url, {"text": "hi"}, format="json").status_code == 201
    assert client_for(UserFactory()).post(
        "/api/v1/events/999999/messages/", {"text": "hi"}, format="json"
    ).status_code in (403, 404)


def test_an_empty_message_is_a_400(event, host):
    response = client_for(host).post(f"/api/v1/events/{event.pk}/messages/", {"text": ""}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_the_sixth_message_in_a_day_is_a_429(event, host):
    _guests(event)
    url = f"/api/v1/events/{event.pk}/messages/"
    codes = [client_for(host).post(url, {"text": f"note {i}"}, format="json").status_code for i in range(5)]
    sixth = client_for(host).post(url, {"text": "one more"}, format="json")

    assert codes == [201] * 5
    assert sixth.status_code == 429
    assert sixth.json()["code"] == "RATE_LIMITED"
    assert 0 < int(sixth["Retry-After"]) <= 86400
    assert EventMessage.objects.filter(event=event).count() == 5
    assert Notification.objects.filter(body="one more").count() == 0


def test_messages_older_than_a_day_do_not_count(event, host):
    for i in range(5):
        EventMessage.objects.create(event=event, text=f"old {i}")
    EventMessage.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert message_guests(event, sender=host, text="new day") == 0


@pytest.mark.django_db(transaction=True)
def test_racing_messages_never_pass_the_daily_limit(host):
    event = EventFactory(host=host)
    RSVP.objects.create(event=event, user=UserFactory(), status=RSVPStatus.GOING)
    barrier = threading.Barrier(8)
    results = []

    def send(i):
        barrier.wait()
        try:
            message_guests(event, sender=host, text=f"race {i}")
            results.append("sent")
        except Exception as exc:
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == ["RateLimited"] * 3 + ["sent"] * 5
    assert EventMessage.objects.filter(event=event).count() == 5
    assert Notification.objects.filter(kind="event_message").count() == 5
