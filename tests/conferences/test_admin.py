from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from conferences.models import Attendance, AttendanceStatus, Conference, Session, SessionSpeaker
from events.models import RSVP, RSVPStatus
from tests.conferences.schedules import DATA
from tests.factories import (
    AdminUserFactory,
    AttendanceFactory,
    ConferenceFactory,
    EventFactory,
    RoomFactory,
    SessionFactory,
    SpeakerFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser() -> Client:
    admin = AdminUserFactory(is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


def test_admin_pages_open(browser):
    conference = ConferenceFactory()
    room = RoomFactory(conference=conference)
    session = SessionFactory(conference=conference, room=room)
    speaker = SpeakerFactory(conference=conference)
    SessionSpeaker.objects.create(session=session, speaker=speaker)
    attendance = AttendanceFactory(conference=conference)
    event = EventFactory(conference=conference)
    RSVP.objects.create(event=event, user=UserFactory(), status=RSVPStatus.GOING)

    pages = [
        "/admin/conferences/conference/",
        f"/admin/conferences/conference/{conference.pk}/change/",
        f"/admin/conferences/conference/{conference.pk}/import-schedule/",
        "/admin/conferences/room/",
        f"/admin/conferences/room/{room.pk}/change/",
        "/admin/conferences/session/",
        f"/admin/conferences/session/?conference__id__exact={conference.pk}&day={conference.starts_on.isoformat()}",
        "/admin/conferences/session/?q=Talk",
        f"/admin/conferences/session/{session.pk}/change/",
        "/admin/conferences/speaker/?linked=no",
        f"/admin/conferences/speaker/{speaker.pk}/change/",
        "/admin/conferences/attendance/",
        f"/admin/conferences/attendance/{attendance.pk}/change/",
        "/admin/conferences/track/",
        "/admin/conferences/bookmark/",
        "/admin/events/event/",
        f"/admin/events/event/{event.pk}/change/",
    ]

    statuses = {page: browser.get(page).status_code for page in pages}

    assert statuses == dict.fromkeys(pages, 200)


def test_admin_import_view_imports_uploaded_file(browser):
    conference = ConferenceFactory()
    upload = SimpleUploadedFile("schedule.json", (DATA / "pretalx-democon.json").read_bytes())

    response = browser.post(
        f"/admin/conferences/conference/{conference.pk}/import-schedule/", {"file": upload}, follow=True
    )

    assert response.status_code == 200
    assert "Imported: 36 created, 0 updated, 0 unchanged, 0 removed." in response.content.decode()
    assert Session.objects.filter(conference=conference).count() == 36


def test_admin_import_view_shows_problem_and_changes_nothing(browser):
    conference = ConferenceFactory()
    upload = SimpleUploadedFile("schedule.json", (DATA / "invalid-example.json").read_bytes())

    response = browser.post(f"/admin/conferences/conference/{conference.pk}/import-schedule/", {"file": upload})

    assert response.status_code == 200
    assert "$.schedule.rooms: this key is not allowed here" in response.content.decode()
    assert Session.objects.count() == 0


def test_admin_import_action_redirects_to_upload(browser):
    conference = ConferenceFactory()

    response = browser.post(
        "/admin/conferences/conference/", {"action": "import_schedule_action", "_selected_action": [conference.pk]}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/admin/conferences/conference/{conference.pk}/import-schedule/"


def test_admin_exports_attendees_csv(browser):
    conference = ConferenceFactory(slug="ibw")
    person = UserFactory(first_name="=cmd", last_name="", company="Acme")
    attendance = AttendanceFactory(conference=conference, user=person)
    AttendanceFactory()  # another conference

    response = browser.post(
        "/admin/conferences/conference/", {"action": "export_attendees_csv", "_selected_action": [conference.pk]}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["conference", "user_id", "name"]
    assert len(rows) == 2
    assert rows[1][:8] == [
        "ibw",
        str(person.pk),
        "'=cmd",
        person.username,
        "Acme",
        "",
        "registered",
        attendance.badge_code,
    ]


def test_admin_check_in_action(browser):
    attendance = AttendanceFactory()

    browser.post("/admin/conferences/attendance/", {"action": "check_in", "_selected_action": [attendance.pk]})

    attendance.refresh_from_db()
    assert attendance.status == AttendanceStatus.CHECKED_IN
    assert attendance.checked_in_by is not None


def test_admin_event_rsvp_csv(browser):
    event = EventFactory()
    RSVP.objects.create(event=event, user=UserFactory(first_name="Ada", last_name="L"), status=RSVPStatus.GOING)

    response = browser.post("/admin/events/event/", {"action": "export_rsvps_csv", "_selected_action": [event.pk]})

    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][3:5] == ["Ada L", "going"]


def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=io.StringIO())
    counts = (Conference.objects.count(), Session.objects.count(), Attendance.objects.count())
    call_command("seed_demo", stdout=io.StringIO())

    assert (Conference.objects.count(), Session.objects.count(), Attendance.objects.count()) == counts
    assert Session.objects.filter(conference__slug="ibw-demo").count() == 6
