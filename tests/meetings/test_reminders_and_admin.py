from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client

from meetings.models import Meeting, MeetingWindow
from meetings.services import accept_meeting, cancel_meeting, request_meeting, send_meeting_reminders
from meetings.tasks import send_meeting_reminders_task
from notifications.models import Notification
from tests.conftest import client_for
from tests.factories import AdminUserFactory, ConferenceFactory
from tests.meetings.helpers import attendee, make_window, next_hour

pytestmark = pytest.mark.django_db


@pytest.fixture
def conference():
    return ConferenceFactory(slug="devcon", timezone="Europe/Berlin")


def _accepted(conference, slot, a=None, b=None) -> Meeting:
    a = a or attendee(conference, first_name="Ann", last_name="Ames")
    b = b or attendee(conference, first_name="Ben", last_name="Birch")
    meeting = request_meeting(a, conference=conference, with_user_id=b.pk, starts_at=slot.starts_at)
    return accept_meeting(b, meeting_id=meeting.pk)


# --- reminders ----------------------------------------------------------------------


def test_both_people_are_reminded_once_with_the_table(conference):
    window = make_window(conference, starts_at=next_hour(3))
    meeting = _accepted(conference, window.slots.first())
    now = meeting.starts_at - timedelta(minutes=4)

    sent = send_meeting_reminders(now=now)
    again = send_meeting_reminders(now=now + timedelta(minutes=1))

    assert (sent, again) == (1, 0)
    reminders = {n.user_id: n for n in Notification.objects.filter(kind="meeting_reminder")}
    assert set(reminders) == {meeting.requester_id, meeting.recipient_id}
    assert reminders[meeting.requester_id].data == {
        "conference": "devcon",
        "meeting": meeting.pk,
        "user": meeting.recipient_id,
        "table": "T1",
        "starts_at": meeting.starts_at.isoformat(),
    }
    assert reminders[meeting.recipient_id].data["user"] == meeting.requester_id
    assert reminders[meeting.requester_id].title == "In 4 min: meeting Ben Birch at table T1"
    meeting.refresh_from_db()
    assert meeting.reminded_at == now


def test_no_reminder_too_early_after_the_start_or_for_meetings_not_accepted(conference, settings):
    settings.MEETING_REMINDER_MINUTES = 5
    window = make_window(conference, starts_at=next_hour(3), slots=3)
    slots = list(window.slots.order_by("starts_at"))
    accepted = _accepted(conference, slots[0])
    cancelled = _accepted(conference, slots[0])
    cancel_meeting(cancelled.requester, meeting_id=cancelled.pk)
    a, b = attendee(conference), attendee(conference)
    request_meeting(a, conference=conference, with_user_id=b.pk, starts_at=slots[0].starts_at)  # pending

    too_early = send_meeting_reminders(now=accepted.starts_at - timedelta(minutes=6))
    too_late = send_meeting_reminders(now=accepted.starts_at + timedelta(seconds=1))

    assert (too_early, too_late) == (0, 0)
    assert not Notification.objects.filter(kind="meeting_reminder").exists()
    assert send_meeting_reminders(now=accepted.starts_at - timedelta(minutes=5)) == 1
    assert Notification.objects.filter(kind="meeting_reminder").count() == 2


def test_the_reminder_minutes_setting_is_honoured(conference, settings):
    settings.MEETING_REMINDER_MINUTES = 30
    meeting = _accepted(conference, make_window(conference, starts_at=next_hour(3)).slots.first())

    assert send_meeting_reminders(now=meeting.starts_at - timedelta(minutes=29)) == 1


def test_the_beat_task_runs_the_reminders_by_its_stable_name(conference):
    assert send_meeting_reminders_task.name == "meetings.send_meeting_reminders"
    assert send_meeting_reminders_task.apply().get() == 0


# --- recommendations offer a free slot ------------------------------------------------


def test_recommendations_offer_the_first_slot_free_for_both(conference):
    window = make_window(conference, starts_at=next_hour(3), slots=3, tables=["T1", "T2"])
    slots = list(window.slots.order_by("starts_at"))
    me = attendee(conference, interests=["ZK"])
    busy = attendee(conference, interests=["ZK"], directory_visible=True)
    free = attendee(conference, interests=["ZK"], directory_visible=True)
    _accepted(conference, slots[0], a=busy)
    _accepted(conference, slots[0], a=free)  # slot 0: both tables taken, and free is busy there
    _accepted(conference, slots[1], a=busy)  # slot 1: one table left, both of us free
    _accepted(conference, slots[2], a=me)  # slot 2: I am busy

    results = client_for(me).get("/api/v1/connections/recommendations/?conference=devcon").json()["results"]

    offered = {r["user"]["id"]: r["next_free_slot"] for r in results}
    assert offered == {
        busy.pk: None,
        free.pk: {"starts_at": offered[free.pk]["starts_at"], "ends_at": offered[free.pk]["ends_at"]},
    }
    assert offered[free.pk]["starts_at"] == slots[1].starts_at.isoformat().replace("+00:00", "Z")


# --- Django admin ---------------------------------------------------------------------


@pytest.fixture
def browser() -> Client:
    client = Client()
    client.force_login(AdminUserFactory(is_superuser=True))
    return client


def test_admin_creates_a_window_with_tables_through_the_service(browser, conference):
    start = next_hour(3)

    response = browser.post(
        "/admin/meetings/meetingwindow/add/",
        {
            "conference": conference.pk,
            "starts_at_0": start.strftime("%Y-%m-%d"),
            "starts_at_1": start.strftime("%H:%M:%S"),
            "ends_at_0": (start + timedelta(hours=1)).strftime("%Y-%m-%d"),
            "ends_at_1": (start + timedelta(hours=1)).strftime("%H:%M:%S"),
            "slot_minutes": 20,
            "tables": "Table A\nTable B\n\n",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    window = MeetingWindow.objects.get()
    assert window.slots.count() == 3
    assert list(window.tables.values_list("name", flat=True)) == ["Table A", "Table B"]


def test_admin_window_form_shows_service_errors(browser, conference):
    start = next_hour(3)

    response = browser.post(
        "/admin/meetings/meetingwindow/add/",
        {
            "conference": conference.pk,
            "starts_at_0": start.strftime("%Y-%m-%d"),
            "starts_at_1": start.strftime("%H:%M:%S"),
            "ends_at_0": start.strftime("%Y-%m-%d"),
            "ends_at_1": start.strftime("%H:%M:%S"),
            "slot_minutes": 15,
            "tables": "T1\nT1",
        },
    )

    assert response.status_code == 200
    assert b"The window must end after it starts." in response.content
    assert not MeetingWindow.objects.exists()


def test_admin_pages_occupancy_and_the_days_csv(browser, conference):
    window = make_window(conference, starts_at=next_hour(3), tables=["T1", "T2"])
    meeting = _accepted(conference, window.slots.first())
    day = meeting.starts_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).date()

    for url in (
        "/admin/meetings/meetingwindow/",
        f"/admin/meetings/meetingwindow/{window.pk}/change/",
        "/admin/meetings/meeting/",
        f"/admin/meetings/meeting/{meeting.pk}/change/",
    ):
        assert browser.get(url).status_code == 200, url
    occupancy = browser.get(f"/admin/meetings/meetingwindow/{window.pk}/occupancy/")
    export = browser.get(f"/admin/meetings/meeting/export/?conference=devcon&day={day.isoformat()}")

    assert occupancy.status_code == 200
    assert "Ann Ames ↔ Ben Birch" in occupancy.content.decode()
    assert "1/2" in occupancy.content.decode()
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0] == [
        "starts_at",
        "ends_at",
        "table",
        "requester_id",
        "requester",
        "recipient_id",
        "recipient",
        "meeting_id",
    ]
    assert rows[1][2:] == [
        "T1",
        str(meeting.requester_id),
        "Ann Ames",
        str(meeting.recipient_id),
        "Ben Birch",
        str(meeting.pk),
    ]
    assert len(rows) == 2
    assert browser.get("/admin/meetings/meeting/export/?conference=devcon").status_code == 400


def test_admin_cancel_action_tells_both_people(browser, conference):
    meeting = _accepted(conference, make_window(conference, starts_at=next_hour(3)).slots.first())

    response = browser.post("/admin/meetings/meeting/", {"action": "cancel_meetings", "_selected_action": [meeting.pk]})

    assert response.status_code == 302
    meeting.refresh_from_db()
    assert (meeting.status, meeting.table_id) == ("cancelled", None)
    assert set(Notification.objects.filter(kind="meeting_cancelled").values_list("user_id", flat=True)) == {
        meeting.requester_id,
        meeting.recipient_id,
    }


def test_a_plain_user_cannot_open_the_export(conference):
    client = Client()
    client.force_login(attendee(conference))

    response = client.get("/admin/meetings/meeting/export/?conference=devcon&day=2030-01-01")

    assert response.status_code == 302  # to the admin login
