"""Django admin: creating a broadcast goes through the service; the change page shows progress."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from broadcasts.models import Broadcast, Delivery
from conferences.models import Bookmark, Conference
from events.models import RSVP, RSVPStatus
from notifications.models import Notification
from quests.models import Quest, QuestCompletion
from tests.factories import (
    AdminUserFactory,
    AttendanceFactory,
    ConferenceFactory,
    EventFactory,
    SessionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_():
    client = Client()
    client.force_login(AdminUserFactory(is_superuser=True))
    return client


def test_admin_add_schedules_through_the_service(admin_client_):
    send_at = timezone.now() + timedelta(hours=2)

    response = admin_client_.post(
        "/admin/broadcasts/broadcast/add/",
        {
            "title": "Lunch",
            "body": "Served in the atrium",
            "segment": "all",
            "channel_choices": ["in_app"],
            "send_at_0": send_at.strftime("%Y-%m-%d"),
            "send_at_1": send_at.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 302
    broadcast = Broadcast.objects.get()
    assert (broadcast.title, broadcast.status, broadcast.audience, broadcast.channels) == (
        "Lunch",
        "scheduled",
        {"segment": "all"},
        ["in_app"],
    )


def test_admin_change_page_shows_the_progress_bar(admin_client_):
    UserFactory()
    broadcast = Broadcast.objects.create(
        title="Doors", audience={"segment": "all"}, channels=["in_app"], status="sending", total=4, sent=2, failed=1
    )

    response = admin_client_.get(f"/admin/broadcasts/broadcast/{broadcast.pk}/change/")

    assert response.status_code == 200
    assert "75% &middot; 2 sent, 1 failed of 4 (Sending)" in response.content.decode()


# --- The form organizers compose with: searchable lists, the audience size, a test to themselves. ---


@pytest.fixture
def segments():
    """DemoCon: 3 attendees (1 checked in), an event with 2 going and 1 waitlisted, a quest done by 1, a session bookmarked by 2."""
    conference = ConferenceFactory(slug="democon", name="DemoCon")
    other = ConferenceFactory(slug="othercon", name="OtherCon")
    people = [UserFactory() for _ in range(3)]
    for n, person in enumerate(people):
        AttendanceFactory(conference=conference, user=person, status="checked_in" if n == 0 else "registered")
    AttendanceFactory(conference=other, user=UserFactory())
    event = EventFactory(conference=conference, title="Boat party")
    RSVP.objects.create(event=event, user=people[0], status=RSVPStatus.GOING)
    RSVP.objects.create(event=event, user=people[1], status=RSVPStatus.GOING)
    RSVP.objects.create(event=event, user=UserFactory(), status=RSVPStatus.WAITLISTED)
    quest = Quest.objects.create(title="Explorer", conference=conference)
    QuestCompletion.objects.create(quest=quest, user=people[2])
    session = SessionFactory(conference=conference, title="Keynote")
    for person in people[:2]:
        Bookmark.objects.create(user=person, session=session)
    return {"conference": conference, "other": other, "event": event, "quest": quest, "session": session}


def test_the_audience_size_view_counts_like_the_api_preview(admin_client_, admin_api, segments):
    conference = segments["conference"]
    cases = [
        ({"segment": "all"}, {}, 6),  # every active user: 3 + 1 elsewhere + the waitlisted guest + the admin
        ({"segment": "attendees"}, {"conference": conference.pk}, 3),
        ({"segment": "checked_in"}, {"conference": conference.pk}, 1),
        ({"segment": "event_going"}, {"event": segments["event"].pk}, 2),
        ({"segment": "quest_completed"}, {"quest": segments["quest"].pk}, 1),
        ({"segment": "session_bookmarked"}, {"session": segments["session"].pk}, 2),
        ({"segment": "attendees"}, {"conference": segments["other"].pk}, 1),
    ]
    for segment, ids, expected in cases:
        response = admin_client_.get("/admin/broadcasts/broadcast/audience/", {**segment, **ids})
        assert response.status_code == 200, response.content
        assert response.json()["total"] == expected, (segment, ids)
        audience = {**segment, **{k: (v if k != "conference" else conference_slug(v)) for k, v in ids.items()}}
        preview = admin_api.post("/api/v1/admin/broadcasts/preview/", {"audience": audience}, format="json")
        assert preview.json() == {"total": expected}, audience


def conference_slug(pk: int) -> str:
    return Conference.objects.get(pk=pk).slug


def test_the_audience_size_view_answers_400_when_the_segment_names_nothing(admin_client_, segments):
    missing = admin_client_.get("/admin/broadcasts/broadcast/audience/", {"segment": "event_going"})
    elsewhere = admin_client_.get(
        "/admin/broadcasts/broadcast/audience/",
        {"segment": "event_going", "event": segments["event"].pk, "conference": segments["other"].pk},
    )
    unknown = admin_client_.get("/admin/broadcasts/broadcast/audience/", {"segment": "all", "conference": 999_999})

    for response in (missing, elsewhere, unknown):
        assert response.status_code == 400
        assert response.json()["code"] == "VALIDATION_ERROR"
    assert elsewhere.json()["error"] == "The event is not part of this conference."


def test_the_form_offers_searchable_lists_that_find_by_name(admin_client_, segments):
    html = admin_client_.get("/admin/broadcasts/broadcast/add/").content.decode()

    for name in ("conference", "event", "quest", "session"):
        assert re.search(rf'<select name="{name}"[^>]*class="[^"]*admin-autocomplete', html), name
    assert 'id="audience-size"' in html
    assert 'id="send-test"' in html
    found = admin_client_.get(
        "/admin/autocomplete/",
        {"app_label": "conferences", "model_name": "bookmark", "field_name": "session", "term": "Keyn"},
    ).json()
    assert [r["text"] for r in found["results"]] == [str(segments["session"])]
    found = admin_client_.get(
        "/admin/autocomplete/", {"app_label": "events", "model_name": "rsvp", "field_name": "event", "term": "boat"}
    ).json()
    assert [r["id"] for r in found["results"]] == [str(segments["event"].pk)]


def test_a_broadcast_chosen_from_the_lists_stores_the_audience_by_slug_and_id(admin_client_, segments):
    response = admin_client_.post(
        "/admin/broadcasts/broadcast/add/",
        {
            "title": "Sail away",
            "segment": "event_going",
            "conference": segments["conference"].pk,
            "event": segments["event"].pk,
            "channel_choices": ["in_app"],
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Broadcast.objects.get().audience == {
        "segment": "event_going",
        "conference": "democon",
        "event": segments["event"].pk,
    }


def test_send_a_test_to_me_reaches_only_the_admin(segments, fake_telegram, django_capture_on_commit_callbacks):
    me = AdminUserFactory(is_superuser=True, telegram_chat_id=880_001)
    client = Client()
    client.force_login(me)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/broadcasts/broadcast/send-test/", {"title": "Doors open", "body": "Main hall, 9:00"}
        )

    assert response.status_code == 200
    assert response.json() == {"in_app": True, "telegram": True}
    [notification] = Notification.objects.all()
    assert (notification.user_id, notification.kind, notification.title, notification.body) == (
        me.pk,
        "broadcast",
        "Doors open",
        "Main hall, 9:00",
    )
    assert [call.params["chat_id"] for call in fake_telegram.calls_of("sendMessage")] == [me.telegram_chat_id]
    assert not Broadcast.objects.exists()
    assert not Delivery.objects.exists()


def test_send_a_test_without_the_bot_is_in_app_only_and_needs_a_title(admin_client_, fake_telegram):
    empty = admin_client_.post("/admin/broadcasts/broadcast/send-test/", {"title": ""})
    assert empty.status_code == 400
    assert empty.json()["details"] == {"title": ["This field is required."]}
    assert not Notification.objects.exists()

    response = admin_client_.post("/admin/broadcasts/broadcast/send-test/", {"title": "Hi"})

    assert response.json() == {"in_app": True, "telegram": False}
    assert Notification.objects.count() == 1
    assert fake_telegram.calls_of("sendMessage") == []
    assert admin_client_.get("/admin/broadcasts/broadcast/send-test/").status_code == 405


def test_a_staff_member_who_may_not_add_broadcasts_gets_403(segments):
    client = Client()
    client.force_login(AdminUserFactory())

    assert client.get("/admin/broadcasts/broadcast/audience/", {"segment": "all"}).status_code == 403
    assert client.post("/admin/broadcasts/broadcast/send-test/", {"title": "x"}).status_code == 403
    assert not Notification.objects.exists()


def test_the_changelist_filters_by_the_audience_conference(admin_client_, segments):
    Broadcast.objects.create(title="Here", audience={"segment": "all", "conference": "democon"})
    Broadcast.objects.create(title="There", audience={"segment": "all", "conference": "othercon"})

    html = admin_client_.get("/admin/broadcasts/broadcast/", {"conference": "democon"}).content.decode()

    assert ">Here<" in html
    assert ">There<" not in html
