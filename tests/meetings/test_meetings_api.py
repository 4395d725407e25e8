from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings

from conferences.organizers import add_organizer
from meetings.models import Meeting, MeetingSeat, MeetingSlot, MeetingStatus, MeetingTable, MeetingWindow
from meetings.services import accept_meeting, request_meeting
from notifications.models import Notification
from tests.conftest import client_for
from tests.connections.factories import BlockFactory, BookmarkFactory
from tests.factories import AttendanceFactory, ConferenceFactory, SessionFactory, UserFactory
from tests.meetings.helpers import attendee, iso, make_window, next_hour

pytestmark = pytest.mark.django_db

MEETINGS = "/api/v1/meetings/"


@pytest.fixture
def conference():
    return ConferenceFactory(slug="devcon", timezone="Europe/Berlin")


@pytest.fixture
def window(conference):
    return make_window(conference)


@pytest.fixture
def alice(conference):
    return attendee(conference, first_name="Alice", last_name="A")


@pytest.fixture
def bob(conference):
    return attendee(conference, first_name="Bob", last_name="B")


def _slot(window, index=0) -> MeetingSlot:
    return window.slots.order_by("starts_at")[index]


def _meet(a, b, slot) -> Meeting:
    """``a`` asks ``b`` for ``slot`` and ``b`` accepts, through the services."""
    meeting = request_meeting(a, conference=slot.window.conference, with_user_id=b.pk, starts_at=slot.starts_at)
    return accept_meeting(b, meeting_id=meeting.pk)


def _request(user, other, slot, **extra):
    body = {"conference": "devcon", "with": other.pk, "starts_at": iso(slot.starts_at), **extra}
    return client_for(user).post(MEETINGS, body, format="json")


# --- windows -----------------------------------------------------------------------


def _window_body(start, **extra):
    return {"starts_at": iso(start), "ends_at": iso(start + timedelta(hours=1)), "tables": ["T1", "T2"], **extra}


def test_admin_creates_a_window_cut_into_slots(admin_api, conference):
    start = next_hour()

    response = admin_api.post(
        "/api/v1/conferences/devcon/meeting-windows/", _window_body(start, slot_minutes=20), format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["conference"] == "devcon"
    assert body["slot_minutes"] == 20
    assert body["tables"] == ["T1", "T2"]
    assert body["slots"] == [
        {"starts_at": iso(start + timedelta(minutes=20 * i)), "ends_at": iso(start + timedelta(minutes=20 * (i + 1)))}
        for i in range(3)
    ]
    window = MeetingWindow.objects.get(pk=body["id"])
    assert window.slots.count() == 3
    assert list(window.tables.values_list("name", flat=True)) == ["T1", "T2"]


def test_slot_minutes_default_to_15(admin_api, conference):
    response = admin_api.post("/api/v1/conferences/devcon/meeting-windows/", _window_body(next_hour()), format="json")

    assert response.status_code == 201
    assert (response.json()["slot_minutes"], len(response.json()["slots"])) == (15, 4)


def test_a_co_organizer_creates_windows_for_their_conference_only(conference):
    organizer = UserFactory()
    add_organizer(conference, user=organizer)
    ConferenceFactory(slug="other")
    api = client_for(organizer)

    ours = api.post("/api/v1/conferences/devcon/meeting-windows/", _window_body(next_hour()), format="json")
    theirs = api.post("/api/v1/conferences/other/meeting-windows/", _window_body(next_hour()), format="json")

    assert ours.status_code == 201
    assert theirs.status_code == 403
    assert theirs.json()["code"] == "PERMISSION_DENIED"
    assert MeetingWindow.objects.filter(conference__slug="other").count() == 0


def test_a_plain_user_cannot_create_a_window(alice, conference):
    response = client_for(alice).post(
        "/api/v1/conferences/devcon/meeting-windows/", _window_body(next_hour()), format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"
    assert not MeetingWindow.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_at": "starts"}, "ends_at"),
        ({"slot_minutes": 2}, "slot_minutes"),
        ({"tables": []}, "tables"),
        ({"tables": ["T1", "t1"]}, "tables"),
        ({"tables": ["  "]}, "tables"),
        ({"starts_at": "tomorrow"}, "starts_at"),
    ],
)
def test_window_validation_names_the_field(admin_api, conference, change, field):
    body = _window_body(next_hour())
    if change.get("ends_at") == "starts":
        change = {"ends_at": body["starts_at"]}
    body.update(change)

    response = admin_api.post("/api/v1/conferences/devcon/meeting-windows/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]
    assert not MeetingWindow.objects.exists()


def test_overlapping_windows_conflict(admin_api, window):
    start = window.starts_at + timedelta(minutes=30)

    response = admin_api.post("/api/v1/conferences/devcon/meeting-windows/", _window_body(start), format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert MeetingWindow.objects.count() == 1


def test_window_for_unknown_conference_is_404(admin_api):
    response = admin_api.post("/api/v1/conferences/nope/meeting-windows/", _window_body(next_hour()), format="json")

    assert response.status_code == 404


def test_logged_in_people_list_windows_anonymous_get_401(api, alice, window):
    listed = client_for(alice).get("/api/v1/conferences/devcon/meeting-windows/")

    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert listed.json()["results"][0]["id"] == window.pk
    assert listed.json()["results"][0]["tables"] == ["T1", "T2"]
    assert api.get("/api/v1/conferences/devcon/meeting-windows/").status_code == 401


@pytest.mark.parametrize("count", [1, 5])
def test_window_list_query_count_is_constant(alice, conference, count, django_assert_max_num_queries):
    for i in range(count):
        make_window(conference, starts_at=next_hour(2 + i))
    api = client_for(alice)

    with django_assert_max_num_queries(6):
        response = api.get("/api/v1/conferences/devcon/meeting-windows/")

    assert response.json()["count"] == count


# --- requests --------------------------------------------------------------------


def test_request_a_meeting(alice, bob, window):
    session = SessionFactory(conference=window.conference, starts_at=_slot(window).starts_at - timedelta(minutes=5))
    BookmarkFactory(user=alice, session=session)
    SessionFactory(conference=window.conference, starts_at=_slot(window).starts_at - timedelta(minutes=5))

    response = _request(alice, bob, _slot(window), message="Coffee?")

    assert response.status_code == 201
    body = response.json()
    meeting = Meeting.objects.get()
    assert body == {
        "id": meeting.pk,
        "conference": "devcon",
        "status": "pending",
        "starts_at": iso(_slot(window).starts_at),
        "ends_at": iso(_slot(window).ends_at),
        "table": None,
        "direction": "outgoing",
        "other": body["other"],
        "message": "Coffee?",
        "conflicts_with": [session.pk],
        "created_at": body["created_at"],
        "responded_at": None,
    }
    assert body["other"]["id"] == bob.pk
    assert "telegram_id" not in body["other"]
    assert (meeting.requester, meeting.recipient, meeting.status) == (alice, bob, "pending")


def test_request_notifies_the_other_person(alice, bob, window):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]

    notification = Notification.objects.get(user=bob)

    assert notification.kind == "meeting_requested"
    assert notification.data == {"conference": "devcon", "meeting": meeting_id, "user": alice.pk}
    assert "Alice A" in notification.title
    assert not Notification.objects.filter(user=alice).exists()


@pytest.mark.parametrize("who", ["caller", "other"])
def test_request_needs_both_registered(conference, window, who):
    registered = attendee(conference)
    stranger = UserFactory()
    caller, other = (stranger, registered) if who == "caller" else (registered, stranger)

    response = _request(caller, other, _slot(window))

    assert response.status_code == 409
    assert response.json()["code"] == "NOT_ATTENDING"
    assert not Meeting.objects.exists()


def test_request_at_a_time_that_is_not_a_slot_start_is_400(alice, bob, window):
    body = {"conference": "devcon", "with": bob.pk, "starts_at": iso(_slot(window).starts_at + timedelta(minutes=5))}

    response = client_for(alice).post(MEETINGS, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "starts_at" in response.json()["details"]


def test_request_in_a_slot_that_started_is_400(alice, bob, conference):
    past = make_window(conference, starts_at=next_hour(-1))

    response = _request(alice, bob, _slot(past))

    assert response.status_code == 400
    assert "starts_at" in response.json()["details"]


def test_request_to_yourself_is_400(alice, window):
    response = _request(alice, alice, _slot(window))

    assert response.status_code == 400
    assert "with" in response.json()["details"]


@pytest.mark.parametrize("direction", ["i_blocked", "they_blocked"])
def test_request_to_a_blocked_person_is_404_as_unknown(alice, bob, window, direction):
    if direction == "i_blocked":
        BlockFactory(blocker=alice, blocked=bob)
    else:
        BlockFactory(blocker=bob, blocked=alice)

    response = _request(alice, bob, _slot(window))
    unknown = client_for(alice).post(
        MEETINGS, {"conference": "devcon", "with": 10**9, "starts_at": iso(_slot(window).starts_at)}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == unknown.json() == {"error": "No such user.", "code": "NOT_FOUND"}
    assert not Meeting.objects.exists()


def test_request_for_an_unknown_conference_is_404(alice, bob, window):
    body = {"conference": "nope", "with": bob.pk, "starts_at": iso(_slot(window).starts_at)}

    assert client_for(alice).post(MEETINGS, body, format="json").status_code == 404


@pytest.mark.parametrize("second_by", ["same", "other"])
def test_same_pair_and_slot_twice_is_already_requested(alice, bob, window, second_by):
    _request(alice, bob, _slot(window))

    response = _request(alice, bob, _slot(window)) if second_by == "same" else _request(bob, alice, _slot(window))

    assert response.status_code == 409
    assert response.json()["code"] == "ALREADY_REQUESTED"
    assert Meeting.objects.count() == 1


def test_same_pair_may_ask_again_after_a_decline_and_in_another_slot(alice, bob, window):
    first = request_meeting(alice, conference=window.conference, with_user_id=bob.pk, starts_at=_slot(window).starts_at)
    assert _request(alice, bob, _slot(window, 1)).status_code == 201
    client_for(bob).post(f"{MEETINGS}{first.pk}/decline/")

    response = _request(alice, bob, _slot(window))

    assert response.status_code == 201
    assert Meeting.objects.filter(slot=_slot(window)).count() == 2


def test_request_validation(alice):
    response = client_for(alice).post(MEETINGS, {"with": "x"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["details"]) == {"conference", "with", "starts_at"}


# --- listing ---------------------------------------------------------------------


def test_both_sides_see_the_meeting_a_third_gets_404(alice, bob, conference, window):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]
    third = attendee(conference)

    mine = client_for(alice).get(MEETINGS).json()
    theirs = client_for(bob).get(f"{MEETINGS}{meeting_id}/").json()
    outsider = client_for(third).get(f"{MEETINGS}{meeting_id}/")

    assert [(m["id"], m["direction"], m["other"]["id"]) for m in mine["results"]] == [(meeting_id, "outgoing", bob.pk)]
    assert (theirs["direction"], theirs["other"]["id"]) == ("incoming", alice.pk)
    assert outsider.status_code == 404
    assert outsider.json()["code"] == "NOT_FOUND"
    assert client_for(third).get(MEETINGS).json()["count"] == 0


def test_list_filters_by_conference_and_status(alice, bob, conference, window):
    pending = _request(alice, bob, _slot(window)).json()["id"]
    accepted = _meet(alice, bob, _slot(window, 1)).pk
    elsewhere = ConferenceFactory(slug="other")
    AttendanceFactory(conference=elsewhere, user=alice)
    there = request_meeting(
        attendee(elsewhere),
        conference=elsewhere,
        with_user_id=alice.pk,
        starts_at=_slot(make_window(elsewhere)).starts_at,
    )
    api = client_for(alice)

    def ids(query):
        return [m["id"] for m in api.get(f"{MEETINGS}?{query}").json()["results"]]

    assert ids("conference=devcon") == [pending, accepted]
    assert ids("conference=devcon&status=accepted") == [accepted]
    assert ids("status=pending") == [pending, there.pk]
    assert api.get(f"{MEETINGS}?status=nope").status_code == 400


def test_meetings_with_a_blocked_person_disappear(alice, bob, window):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]
    BlockFactory(blocker=bob, blocked=alice)

    assert client_for(alice).get(MEETINGS).json()["count"] == 0
    assert client_for(alice).get(f"{MEETINGS}{meeting_id}/").status_code == 404
    assert client_for(bob).post(f"{MEETINGS}{meeting_id}/accept/").status_code == 404


@pytest.mark.parametrize("count", [1, 5])
def test_meeting_list_query_count_is_constant(alice, conference, count, django_assert_max_num_queries):
    window = make_window(conference, slots=count)
    for i in range(count):
        other = attendee(conference)
        meeting = _meet(alice, other, _slot(window, i))
        session = SessionFactory(conference=conference, starts_at=meeting.starts_at, ends_at=meeting.ends_at)
        BookmarkFactory(user=alice, session=session)
    api = client_for(alice)

    with django_assert_max_num_queries(5):
        response = api.get(MEETINGS)

    results = response.json()["results"]
    assert len(results) == count
    assert all(len(m["conflicts_with"]) == 1 and m["table"] == "T1" for m in results)


# --- accept, decline, cancel ------------------------------------------------------------


def test_recipient_accepts_and_gets_a_table(alice, bob, window):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]

    response = client_for(bob).post(f"{MEETINGS}{meeting_id}/accept/")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["table"], response.json()["direction"]) == (
        "accepted",
        "T1",
        "incoming",
    )
    meeting = Meeting.objects.get(pk=meeting_id)
    assert (meeting.status, meeting.table.name) == ("accepted", "T1")
    assert set(MeetingSeat.objects.values_list("user_id", flat=True)) == {alice.pk, bob.pk}
    notification = Notification.objects.get(user=alice, kind="meeting_accepted")
    assert notification.data == {"conference": "devcon", "meeting": meeting_id, "user": bob.pk}
    assert "T1" in notification.title


def test_accepting_twice_returns_the_same_meeting(alice, bob, window):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]
    api = client_for(bob)
    api.post(f"{MEETINGS}{meeting_id}/accept/")

    again = api.post(f"{MEETINGS}{meeting_id}/accept/")

    assert again.status_code == 200
    assert (again.json()["status"], again.json()["table"]) == ("accepted", "T1")
    assert Notification.objects.filter(kind="meeting_accepted").count() == 1


def test_the_requester_cannot_answer_their_own_request(alice, bob, window):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]

    for action in ("accept", "decline"):
        response = client_for(alice).post(f"{MEETINGS}{meeting_id}/{action}/")
        assert response.status_code == 403
        assert response.json()["code"] == "PERMISSION_DENIED"
    assert Meeting.objects.get().status == "pending"


def test_a_third_person_gets_404_on_every_action(alice, bob, conference, window):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]
    api = client_for(attendee(conference))

    for action in ("accept", "decline", "cancel"):
        assert api.post(f"{MEETINGS}{meeting_id}/{action}/").status_code == 404
    assert Meeting.objects.get().status == "pending"


@pytest.mark.parametrize("holder", ["requester", "recipient"])
def test_accept_when_either_person_has_an_accepted_meeting_in_the_slot_is_slot_taken(
    conference, alice, bob, window, holder
):
    carol = attendee(conference)
    busy = alice if holder == "requester" else bob
    _meet(carol, busy, _slot(window))
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]

    response = client_for(bob).post(f"{MEETINGS}{meeting_id}/accept/")

    assert response.status_code == 409
    assert response.json()["code"] == "SLOT_TAKEN"
    assert Meeting.objects.get(pk=meeting_id).status == "pending"
    assert MeetingSeat.objects.filter(user=busy).count() == 1


def test_accept_when_every_table_is_taken_is_no_table_free(conference, window):
    people = [attendee(conference) for _ in range(6)]
    _meet(people[0], people[1], _slot(window))
    _meet(people[2], people[3], _slot(window))
    meeting = request_meeting(
        people[4], conference=conference, with_user_id=people[5].pk, starts_at=_slot(window).starts_at
    )

    response = client_for(people[5]).post(f"{MEETINGS}{meeting.pk}/accept/")

    assert response.status_code == 409
    assert response.json()["code"] == "NO_TABLE_FREE"
    assert Meeting.objects.filter(status="accepted").count() == 2
    assert set(Meeting.objects.filter(status="accepted").values_list("table__name", flat=True)) == {"T1", "T2"}


def test_recipient_declines(alice, bob, window):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]

    response = client_for(bob).post(f"{MEETINGS}{meeting_id}/decline/")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["table"]) == ("declined", None)
    assert Meeting.objects.get().status == "declined"
    assert Notification.objects.get(user=alice, kind="meeting_declined").data == {
        "conference": "devcon",
        "meeting": meeting_id,
        "user": bob.pk,
    }
    accept = client_for(bob).post(f"{MEETINGS}{meeting_id}/accept/")
    assert accept.status_code == 409
    assert accept.json()["code"] == "CONFLICT"


@pytest.mark.parametrize("by", ["requester", "recipient"])
def test_either_side_cancels_and_the_table_is_free_again(conference, alice, bob, window, by):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]
    accept_meeting(bob, meeting_id=meeting_id)
    canceller, other = (alice, bob) if by == "requester" else (bob, alice)

    response = client_for(canceller).post(f"{MEETINGS}{meeting_id}/cancel/")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["table"]) == ("cancelled", None)
    assert not MeetingSeat.objects.exists()
    assert Notification.objects.get(user=other, kind="meeting_cancelled").data == {
        "conference": "devcon",
        "meeting": meeting_id,
        "user": canceller.pk,
    }
    assert not Notification.objects.filter(user=canceller, kind="meeting_cancelled").exists()
    # The same people, and the table, are free in that slot again.
    again = request_meeting(alice, conference=conference, with_user_id=bob.pk, starts_at=_slot(window).starts_at)
    assert accept_meeting(bob, meeting_id=again.pk).table.name == "T1"


def test_cancel_a_pending_request_and_cancel_again(alice, bob, window):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]
    api = client_for(alice)

    first = api.post(f"{MEETINGS}{meeting_id}/cancel/")
    second = api.post(f"{MEETINGS}{meeting_id}/cancel/")

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["status"] == "cancelled"
    assert Notification.objects.filter(user=bob, kind="meeting_cancelled").count() == 1


def test_cancelling_a_declined_meeting_conflicts(alice, bob, window):
    meeting_id = _request(alice, bob, _slot(window)).json()["id"]
    client_for(bob).post(f"{MEETINGS}{meeting_id}/decline/")

    response = client_for(alice).post(f"{MEETINGS}{meeting_id}/cancel/")

    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


def test_anonymous_is_401(api, window):
    assert api.get(MEETINGS).status_code == 401
    assert api.post(MEETINGS, {}, format="json").status_code == 401
    assert api.get("/api/v1/conferences/devcon/meeting-slots/?with=1").status_code == 401


# --- free slots --------------------------------------------------------------------------


def _free(user, other):
    return client_for(user).get(f"/api/v1/conferences/devcon/meeting-slots/?with={other.pk}")


def test_free_slots_leave_out_busy_people_and_full_slots(conference, alice, bob, window):
    carol, dave, erin, frank = (attendee(conference) for _ in range(4))
    slots = list(window.slots.order_by("starts_at"))
    _meet(alice, carol, slots[0])
    _meet(dave, bob, slots[1])
    _meet(carol, dave, slots[2])  # both tables of slot 3
    _meet(erin, frank, slots[2])
    request_meeting(
        alice, conference=conference, with_user_id=bob.pk, starts_at=slots[3].starts_at
    )  # pending: still free

    response = _free(alice, bob)

    assert response.status_code == 200
    assert response.json() == {"results": [{"starts_at": iso(slots[3].starts_at), "ends_at": iso(slots[3].ends_at)}]}


def test_free_slots_leave_out_slots_that_started(conference, alice, bob):
    started = make_window(conference, starts_at=next_hour(-1), slots=4)
    later = make_window(conference, starts_at=next_hour(2), slots=1)

    results = _free(alice, bob).json()["results"]

    assert started.slots.count() == 4
    assert results == [{"starts_at": iso(_slot(later).starts_at), "ends_at": iso(_slot(later).ends_at)}]


def test_free_slots_errors(alice, bob, window):
    api = client_for(alice)

    assert api.get("/api/v1/conferences/devcon/meeting-slots/").status_code == 400
    assert api.get(f"/api/v1/conferences/devcon/meeting-slots/?with={alice.pk}").status_code == 400
    assert api.get("/api/v1/conferences/devcon/meeting-slots/?with=999999999").status_code == 404
    assert api.get(f"/api/v1/conferences/nope/meeting-slots/?with={bob.pk}").status_code == 404
    BlockFactory(blocker=bob, blocked=alice)
    blocked = api.get(f"/api/v1/conferences/devcon/meeting-slots/?with={bob.pk}")
    assert (blocked.status_code, blocked.json()["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize("count", [1, 5])
def test_slot_finder_query_count_is_constant(conference, alice, bob, count, django_assert_max_num_queries):
    for i in range(count):
        window = make_window(conference, starts_at=next_hour(2 + i), slots=4)
        other = attendee(conference)
        _meet(alice, other, _slot(window))
    api = client_for(alice)

    with django_assert_max_num_queries(5):
        response = api.get(f"/api/v1/conferences/devcon/meeting-slots/?with={bob.pk}")

    assert len(response.json()["results"]) == 3 * count


# --- settings and schedule ----------------------------------------------------------


def test_reminder_defaults_to_five_minutes_on_the_critical_queue_every_minute():
    assert settings.MEETING_REMINDER_MINUTES == 5
    assert settings.CELERY_TASK_ROUTES["meetings.send_meeting_reminders"] == {"queue": "critical"}
    assert settings.CELERY_BEAT_SCHEDULE["meetings-send-reminders"] == {
        "task": "meetings.send_meeting_reminders",
        "schedule": 60.0,
    }


def test_models_keep_tables_and_slots_with_their_window(window):
    assert MeetingTable.objects.filter(window=window).count() == 2
    assert MeetingSlot.objects.filter(window=window).count() == 4
    assert MeetingStatus.ACCEPTED == "accepted"


def test_accepting_after_the_slot_started_conflicts(alice, bob, conference):
    window = make_window(conference, starts_at=next_hour(2))
    meeting = request_meeting(alice, conference=conference, with_user_id=bob.pk, starts_at=_slot(window).starts_at)

    with time_machine.travel(meeting.starts_at + timedelta(minutes=1), tick=False):
        response = client_for(bob).post(f"{MEETINGS}{meeting.pk}/accept/")

    assert response.status_code == 409
    assert response.json() == {"error": "This meeting's slot has already started.", "code": "CONFLICT"}
    assert Meeting.objects.get(pk=meeting.pk).status == "pending"
