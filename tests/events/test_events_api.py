from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from events.models import RSVP, Event, RSVPStatus
from notifications.models import Notification
from tests.conftest import client_for
from tests.factories import AttendanceFactory, ConferenceFactory, EventFactory, UserFactory

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"


def _rsvp_url(event: Event) -> str:
    return f"/api/v1/events/{event.pk}/rsvp/"


def _going(event: Event, count: int) -> list:
    people = [UserFactory() for _ in range(count)]
    for person in people:
        client_for(person).post(_rsvp_url(event))
    return people


@pytest.fixture
def organizer():
    return UserFactory(roles=["organizer"])


@pytest.fixture
def organizer_api(organizer):
    return client_for(organizer)


# --- Reads --------------------------------------------------------------------------


def test_event_list_shows_contract_fields(api):
    conference = ConferenceFactory(slug="ibw")
    host = UserFactory(first_name="Hana", last_name="Host")
    event = EventFactory(
        conference=conference,
        host=host,
        title="Drinks",
        description="Meet",
        location="Roof",
        capacity=10,
        starts_at=datetime(2030, 5, 1, 19, tzinfo=UTC),
        ends_at=datetime(2030, 5, 1, 22, tzinfo=UTC),
    )

    response = api.get(EVENTS)

    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert response.json()["results"][0] == {
        "id": event.pk,
        "title": "Drinks",
        "description": "Meet",
        "conference": "ibw",
        "starts_at": "2030-05-01T19:00:00Z",
        "ends_at": "2030-05-01T22:00:00Z",
        "location": "Roof",
        "capacity": 10,
        "host": {"id": host.pk, "display_name": "Hana Host", "avatar_url": None},
        "going_count": 0,
        "waitlist_count": 0,
        "my_rsvp": None,
    }
    assert api.get(f"/api/v1/events/{event.pk}/").json() == response.json()["results"][0]


def test_event_list_filters(api):
    conference = ConferenceFactory(slug="ibw")
    base = datetime(2030, 5, 1, 12, tzinfo=UTC)
    early = EventFactory(conference=conference, title="Breakfast", starts_at=base, ends_at=base + timedelta(hours=1))
    late = EventFactory(
        conference=conference,
        title="Party",
        location="Galata rooftop",
        starts_at=base + timedelta(days=1),
        ends_at=base + timedelta(days=1, hours=2),
    )
    elsewhere = EventFactory(title="Other", starts_at=base, ends_at=base + timedelta(hours=1))

    def ids(query: str) -> list[int]:
        return [e["id"] for e in api.get(EVENTS + query).json()["results"]]

    assert ids("?conference=ibw") == [early.pk, late.pk]
    assert ids("?starts_after=2030-05-02") == [late.pk]
    assert ids("?starts_before=2030-05-01T13:00:00Z") == [early.pk, elsewhere.pk]
    assert ids("?q=galata") == [late.pk]
    assert ids("?q=breakfast&conference=ibw") == [early.pk]


def test_event_list_bad_date_filter_is_400(api):
    response = api.get(EVENTS + "?starts_after=tomorrow")

    assert response.status_code == 400
    assert response.json()["details"] == {"starts_after": ["Use an ISO 8601 date or date-time."]}


def test_event_list_my_rsvp_per_caller(user, user_api):
    full = EventFactory(capacity=1)
    open_event = EventFactory()
    _going(full, 1)
    user_api.post(_rsvp_url(full))
    user_api.post(_rsvp_url(open_event))

    results = {e["id"]: e["my_rsvp"] for e in user_api.get(EVENTS).json()["results"]}

    assert results == {full.pk: "waitlisted", open_event.pk: "going"}


@pytest.mark.parametrize("count", [1, 5])
def test_event_list_query_count_is_constant(user, user_api, count, django_assert_max_num_queries):
    conference = ConferenceFactory()
    for _ in range(count):
        event = EventFactory(conference=conference, host=UserFactory())
        RSVP.objects.create(event=event, user=user, status=RSVPStatus.GOING)

    with django_assert_max_num_queries(3):
        response = user_api.get(EVENTS)

    assert [e["my_rsvp"] for e in response.json()["results"]] == ["going"] * count


def test_event_detail_unknown_is_404(api):
    assert api.get("/api/v1/events/999999/").status_code == 404


# --- Create, edit, delete ------------------------------------------------------------------


def test_organizer_creates_event_and_hosts_it(organizer, organizer_api):
    ConferenceFactory(slug="ibw")

    response = organizer_api.post(
        EVENTS,
        {
            "title": "Founders dinner",
            "description": "By invitation",
            "conference": "ibw",
            "starts_at": "2030-05-01T19:00:00+03:00",
            "ends_at": "2030-05-01T22:00:00+03:00",
            "location": "Karakoy",
            "capacity": 12,
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["host"]["id"] == organizer.pk
    assert body["conference"] == "ibw"
    assert body["capacity"] == 12
    assert body["starts_at"] == "2030-05-01T16:00:00Z"
    assert Event.objects.get(pk=body["id"]).host == organizer


def test_admin_key_creates_event_without_host(admin_api):
    response = admin_api.post(
        EVENTS,
        {"title": "Official party", "starts_at": "2030-05-01T19:00:00Z", "ends_at": "2030-05-01T23:00:00Z"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["host"] is None
    assert response.json()["capacity"] is None
    assert response.json()["conference"] is None


def test_attendee_cannot_create_event(user_api, api):
    body = {"title": "X", "starts_at": "2030-05-01T19:00:00Z", "ends_at": "2030-05-01T20:00:00Z"}

    denied = user_api.post(EVENTS, body, format="json")

    assert denied.status_code == 403
    assert denied.json()["code"] == "PERMISSION_DENIED"
    assert api.post(EVENTS, body, format="json").status_code == 401


def test_create_event_validates(organizer_api):
    response = organizer_api.post(
        EVENTS,
        {"title": "X", "starts_at": "2030-05-01T19:00:00Z", "ends_at": "2030-05-01T18:00:00Z", "conference": "nope"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()["details"]) == {"conference"}


def test_create_event_refuses_end_before_start(organizer_api):
    response = organizer_api.post(
        EVENTS, {"title": "X", "starts_at": "2030-05-01T19:00:00Z", "ends_at": "2030-05-01T18:00:00Z"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["details"] == {"ends_at": ["An event cannot end before it starts."]}


def test_only_host_or_admin_edits_and_deletes(organizer, organizer_api, admin_api):
    event = EventFactory(host=organizer, title="Old")
    other_organizer = client_for(UserFactory(roles=["organizer"]))
    url = f"/api/v1/events/{event.pk}/"

    by_other = other_organizer.patch(url, {"title": "Hijacked"}, format="json")
    by_user = client_for(UserFactory()).delete(url)
    by_host = organizer_api.patch(url, {"title": "New"}, format="json")
    by_admin = admin_api.patch(url, {"location": "Moved"}, format="json")

    assert by_other.status_code == 403
    assert by_other.json()["code"] == "PERMISSION_DENIED"
    assert by_user.status_code == 403
    assert by_host.status_code == 200
    assert by_host.json()["title"] == "New"
    assert by_admin.json()["location"] == "Moved"
    assert organizer_api.delete(url).status_code == 204
    assert not Event.objects.filter(pk=event.pk).exists()


def test_anonymous_edit_is_401(api):
    event = EventFactory()

    assert api.patch(f"/api/v1/events/{event.pk}/", {"title": "X"}, format="json").status_code == 401


def test_admin_deletes_any_event(admin_api):
    event = EventFactory(host=UserFactory(roles=["organizer"]))

    assert admin_api.delete(f"/api/v1/events/{event.pk}/").status_code == 204


def test_raising_capacity_promotes_waitlist(organizer, organizer_api):
    event = EventFactory(host=organizer, capacity=1)
    first, second, third = _going(event, 3)

    response = organizer_api.patch(f"/api/v1/events/{event.pk}/", {"capacity": 2}, format="json")

    assert response.json()["going_count"] == 2
    assert response.json()["waitlist_count"] == 1
    assert RSVP.objects.get(event=event, user=second).status == RSVPStatus.GOING
    assert RSVP.objects.get(event=event, user=third).status == RSVPStatus.WAITLISTED
    assert Notification.objects.filter(user=second, kind="waitlist_promoted").count() == 1


# --- RSVP ------------------------------------------------------------------------------------


def test_rsvp_going_then_same_again(user, user_api):
    event = EventFactory(capacity=2)

    first = user_api.post(_rsvp_url(event))
    again = user_api.post(_rsvp_url(event))

    assert first.status_code == 201
    assert first.json()["status"] == "going"
    assert again.status_code == 200
    assert again.json()["status"] == "going"
    assert RSVP.objects.filter(event=event, user=user).count() == 1
    event.refresh_from_db()
    assert (event.going_count, event.waitlist_count) == (1, 0)


def test_rsvp_waitlisted_when_full(user_api):
    event = EventFactory(capacity=1)
    _going(event, 1)

    response = user_api.post(_rsvp_url(event))

    assert response.status_code == 201
    assert response.json()["status"] == "waitlisted"
    detail = user_api.get(f"/api/v1/events/{event.pk}/").json()
    assert (detail["going_count"], detail["waitlist_count"], detail["my_rsvp"]) == (1, 1, "waitlisted")


def test_rsvp_unlimited_capacity_always_going():
    event = EventFactory(capacity=None)

    _going(event, 5)

    event.refresh_from_db()
    assert (event.going_count, event.waitlist_count) == (5, 0)


def test_rsvp_needs_login(api):
    event = EventFactory()

    assert api.post(_rsvp_url(event)).status_code == 401


def test_rsvp_needs_no_conference_registration(user_api):
    event = EventFactory(conference=ConferenceFactory())

    assert user_api.post(_rsvp_url(event)).json()["status"] == "going"


def test_cancel_promotes_first_waitlisted_in_order_and_notifies_them():
    event = EventFactory(capacity=1, title="Rooftop")
    holder, first_waiting, second_waiting = _going(event, 3)

    response = client_for(holder).delete(_rsvp_url(event))

    assert response.status_code == 204
    event.refresh_from_db()
    assert (event.going_count, event.waitlist_count) == (1, 1)
    assert RSVP.objects.get(event=event, user=first_waiting).status == RSVPStatus.GOING
    assert RSVP.objects.get(event=event, user=second_waiting).status == RSVPStatus.WAITLISTED
    assert not RSVP.objects.filter(event=event, user=holder).exists()
    note = Notification.objects.get(kind="waitlist_promoted")
    assert note.user == first_waiting
    assert "Rooftop" in note.title
    assert note.data == {"event": event.pk, "status": "going"}


def test_cancel_waitlisted_promotes_nobody():
    event = EventFactory(capacity=1)
    _, waiting = _going(event, 2)

    client_for(waiting).delete(_rsvp_url(event))

    event.refresh_from_db()
    assert (event.going_count, event.waitlist_count) == (1, 0)
    assert Notification.objects.count() == 0


def test_cancel_without_rsvp_is_204(user_api):
    event = EventFactory()

    assert user_api.delete(_rsvp_url(event)).status_code == 204


def test_rsvp_again_after_cancel_goes_to_back_of_queue(user, user_api):
    event = EventFactory(capacity=1)
    user_api.post(_rsvp_url(event))
    _going(event, 1)  # waitlisted behind the user

    user_api.delete(_rsvp_url(event))
    again = user_api.post(_rsvp_url(event))

    assert again.json()["status"] == "waitlisted"


# --- Host check-in ------------------------------------------------------------------------------


def test_host_checks_in_by_badge_code_idempotently(organizer, organizer_api):
    conference = ConferenceFactory()
    event = EventFactory(host=organizer, conference=conference, capacity=5)
    guest = UserFactory()
    client_for(guest).post(_rsvp_url(event))
    badge = AttendanceFactory(conference=conference, user=guest).badge_code
    url = f"/api/v1/events/{event.pk}/check-ins/"

    first = organizer_api.post(url, {"badge_code": badge}, format="json")
    second = organizer_api.post(url, {"badge_code": badge}, format="json")

    assert first.status_code == 200
    assert first.json()["user"]["id"] == guest.pk
    assert first.json()["status"] == "going"
    assert first.json()["checked_in_by"] == organizer.pk
    assert first.json()["checked_in_at"] is not None
    assert second.json() == first.json()
    event.refresh_from_db()
    assert event.going_count == 1


def test_host_checks_in_by_user_id_walk_in_and_waitlisted(organizer, organizer_api):
    event = EventFactory(host=organizer, capacity=1)
    holder, waiting = _going(event, 2)
    walk_in = UserFactory()
    url = f"/api/v1/events/{event.pk}/check-ins/"

    promoted = organizer_api.post(url, {"user_id": waiting.pk}, format="json")
    walked_in = organizer_api.post(url, {"user_id": walk_in.pk}, format="json")

    assert promoted.status_code == 200
    assert promoted.json()["status"] == "going"
    assert walked_in.json()["status"] == "going"
    event.refresh_from_db()
    assert (event.going_count, event.waitlist_count) == (3, 0)


def test_admin_key_check_in_records_no_person(admin_api):
    event = EventFactory()
    guest = UserFactory()

    response = admin_api.post(f"/api/v1/events/{event.pk}/check-ins/", {"user_id": guest.pk}, format="json")

    assert response.status_code == 200
    assert response.json()["checked_in_by"] is None


def test_check_in_by_non_host_is_403(user_api):
    event = EventFactory(host=UserFactory(roles=["organizer"]))

    response = user_api.post(f"/api/v1/events/{event.pk}/check-ins/", {"user_id": 1}, format="json")

    assert response.status_code == 403


def test_check_in_unknown_badge_or_user_is_404(admin_api):
    event = EventFactory()
    url = f"/api/v1/events/{event.pk}/check-ins/"

    assert admin_api.post(url, {"badge_code": "NOPE"}, format="json").status_code == 404
    assert admin_api.post(url, {"user_id": 999999}, format="json").status_code == 404


def test_check_in_needs_exactly_one_identifier(admin_api):
    event = EventFactory()
    url = f"/api/v1/events/{event.pk}/check-ins/"

    neither = admin_api.post(url, {}, format="json")
    both = admin_api.post(url, {"badge_code": "X", "user_id": 1}, format="json")

    assert neither.status_code == 400
    assert both.status_code == 400


def test_guest_list_for_host(organizer, organizer_api, user_api):
    event = EventFactory(host=organizer, capacity=1)
    going, waiting = _going(event, 2)

    response = organizer_api.get(f"/api/v1/events/{event.pk}/rsvps/")

    assert response.status_code == 200
    assert [(r["user"]["id"], r["status"]) for r in response.json()["results"]] == [
        (going.pk, "going"),
        (waiting.pk, "waitlisted"),
    ]
    assert user_api.get(f"/api/v1/events/{event.pk}/rsvps/").status_code == 403


@pytest.mark.parametrize("count", [1, 5])
def test_guest_list_query_count_is_constant(admin_api, count, django_assert_max_num_queries):
    event = EventFactory()
    _going(event, count)

    with django_assert_max_num_queries(3):
        response = admin_api.get(f"/api/v1/events/{event.pk}/rsvps/")

    assert response.json()["count"] == count


def test_deleting_event_tells_its_guests(organizer, organizer_api):
    event = EventFactory(host=organizer, capacity=1, title="Boat party")
    going, waiting = _going(event, 2)
    bystander = UserFactory()

    response = organizer_api.delete(f"/api/v1/events/{event.pk}/")

    assert response.status_code == 204
    notes = Notification.objects.filter(kind="event_cancelled")
    assert {n.user_id for n in notes} == {going.pk, waiting.pk}
    assert notes.first().title == "Cancelled: Boat party"
    assert not Notification.objects.filter(user=bystander).exists()
