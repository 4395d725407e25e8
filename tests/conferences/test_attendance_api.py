from __future__ import annotations

import io

import pytest
import segno
from PIL import Image

from conferences.models import Attendance, AttendanceStatus
from connections.models import Block
from tests.conftest import client_for
from tests.factories import AttendanceFactory, ConferenceFactory, UserFactory

pytestmark = pytest.mark.django_db

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _url(conference, tail: str) -> str:
    return f"/api/v1/conferences/{conference.slug}/{tail}"


def test_register_creates_attendance_then_returns_it(user, user_api):
    conference = ConferenceFactory()

    first = user_api.post(_url(conference, "attendance/"))
    second = user_api.post(_url(conference, "attendance/"))
    shown = user_api.get(_url(conference, "attendance/"))

    assert first.status_code == 201
    assert first.json()["status"] == "registered"
    badge = first.json()["badge_code"]
    assert len(badge) == 12
    assert set(badge) <= set("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
    assert second.status_code == 200
    assert second.json()["badge_code"] == badge
    assert shown.status_code == 200
    assert shown.json() == first.json()
    assert shown.json()["conference"] == conference.slug
    assert Attendance.objects.filter(user=user).count() == 1


def test_badge_codes_differ_between_people():
    conference = ConferenceFactory()

    codes = {AttendanceFactory(conference=conference).badge_code for _ in range(20)}

    assert len(codes) == 20


def test_attendance_before_registering_is_404(user_api):
    conference = ConferenceFactory()

    response = user_api.get(_url(conference, "attendance/"))

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_register_needs_login(api, admin_api):
    conference = ConferenceFactory()

    assert api.post(_url(conference, "attendance/")).status_code == 401
    # The admin key is the system, not a person: it cannot attend.
    assert admin_api.post(_url(conference, "attendance/")).status_code == 403


def test_badge_png_is_a_qr_code_of_the_badge(user, user_api):
    conference = ConferenceFactory()
    attendance = AttendanceFactory(conference=conference, user=user)

    response = user_api.get(_url(conference, "attendance/badge.png"))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content[:8] == PNG_MAGIC
    # Every module of the badge code's QR symbol is drawn where it belongs (scale 10, quiet zone 4).
    image = Image.open(io.BytesIO(response.content)).convert("L")
    matrix = segno.make(attendance.badge_code, error="m").matrix
    assert image.size == ((len(matrix) + 8) * 10,) * 2
    drawn = [
        [image.getpixel(((c + 4) * 10 + 5, (r + 4) * 10 + 5)) < 128 for c in range(len(row))]
        for r, row in enumerate(matrix)
    ]
    assert drawn == [[bool(module) for module in row] for row in matrix]


def test_badge_png_accepts_image_accept_header(user, user_api):
    conference = ConferenceFactory()
    AttendanceFactory(conference=conference, user=user)

    response = user_api.get(_url(conference, "attendance/badge.png"), HTTP_ACCEPT="image/png")

    assert response.status_code == 200
    assert response.content[:8] == PNG_MAGIC


def test_badge_png_without_registration_is_json_404(user_api):
    conference = ConferenceFactory()

    response = user_api.get(_url(conference, "attendance/badge.png"), HTTP_ACCEPT="image/png")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "NOT_FOUND"


# --- Directory --------------------------------------------------------------------------------


def _attendee(conference, **fields):
    person = UserFactory(directory_visible=True, **fields)
    AttendanceFactory(conference=conference, user=person)
    return person


def test_attendees_lists_only_visible_people_of_this_conference(user, user_api):
    conference = ConferenceFactory()
    visible = _attendee(conference, first_name="Ada", last_name="L")
    AttendanceFactory(conference=conference, user=UserFactory(directory_visible=False))
    _attendee(ConferenceFactory())
    UserFactory(directory_visible=True)  # not registered

    response = user_api.get(_url(conference, "attendees/"))

    assert response.status_code == 200
    assert response.json()["count"] == 1
    person = response.json()["results"][0]
    assert person["id"] == visible.pk
    assert person["display_name"] == "Ada L"
    assert "telegram_id" not in person


def test_attendees_search_name_company_title_interests(user_api):
    conference = ConferenceFactory()
    by_name = _attendee(conference, first_name="Satoshi")
    by_company = _attendee(conference, company="Satoshi Labs")
    by_title = _attendee(conference, job_title="Head of Satoshi research")
    by_interest = _attendee(conference, interests=["defi", "satoshi-era mining"])
    _attendee(conference, first_name="Vitalik", company="EF")

    ids = {p["id"] for p in user_api.get(_url(conference, "attendees/?q=satoshi")).json()["results"]}

    assert ids == {by_name.pk, by_company.pk, by_title.pk, by_interest.pk}


def test_attendees_leave_out_blocked_people_both_ways(user, user_api):
    conference = ConferenceFactory()
    i_blocked = _attendee(conference)
    blocked_me = _attendee(conference)
    friend = _attendee(conference)
    Block.objects.create(blocker=user, blocked=i_blocked)
    Block.objects.create(blocker=blocked_me, blocked=user)

    ids = {p["id"] for p in user_api.get(_url(conference, "attendees/")).json()["results"]}

    assert ids == {friend.pk}


def test_attendees_need_login(api):
    conference = ConferenceFactory()

    assert api.get(_url(conference, "attendees/")).status_code == 401


@pytest.mark.parametrize("count", [1, 5])
def test_attendees_query_count_is_constant(user_api, count, django_assert_max_num_queries):
    conference = ConferenceFactory()
    for _ in range(count):
        _attendee(conference, interests=["x"])

    with django_assert_max_num_queries(4):
        response = user_api.get(_url(conference, "attendees/?q=x"))

    assert response.json()["count"] == count


# --- Check-in -----------------------------------------------------------------------------------------


def test_staff_check_in_records_who_and_when_and_is_idempotent(user):
    conference = ConferenceFactory()
    attendance = AttendanceFactory(conference=conference, user=user)
    staff = UserFactory(roles=["staff"])
    staff_api = client_for(staff)

    first = staff_api.post(_url(conference, "check-ins/"), {"badge_code": attendance.badge_code}, format="json")
    attendance.refresh_from_db()
    checked_in_at = attendance.checked_in_at
    other_staff = client_for(UserFactory(roles=["staff"]))
    second = other_staff.post(
        _url(conference, "check-ins/"), {"badge_code": attendance.badge_code.lower()}, format="json"
    )
    attendance.refresh_from_db()

    assert first.status_code == 200
    assert first.json()["status"] == "checked_in"
    assert first.json()["badge_code"] == attendance.badge_code
    assert first.json()["checked_in_by"] == staff.pk
    assert second.status_code == 200
    assert second.json() == first.json()
    assert attendance.status == AttendanceStatus.CHECKED_IN
    assert attendance.checked_in_at == checked_in_at
    assert attendance.checked_in_by == staff


def test_attendee_sees_checked_in_status(user, user_api, admin_api):
    conference = ConferenceFactory()
    attendance = AttendanceFactory(conference=conference, user=user)

    admin_api.post(_url(conference, "check-ins/"), {"badge_code": attendance.badge_code}, format="json")

    assert user_api.get(_url(conference, "attendance/")).json()["status"] == "checked_in"


def test_check_in_with_admin_key_records_no_person(admin_api):
    conference = ConferenceFactory()
    attendance = AttendanceFactory(conference=conference)

    response = admin_api.post(_url(conference, "check-ins/"), {"badge_code": attendance.badge_code}, format="json")

    assert response.status_code == 200
    assert response.json()["checked_in_by"] is None
    attendance.refresh_from_db()
    assert attendance.checked_in_at is not None


def test_check_in_unknown_or_other_conference_code_is_404(admin_api):
    conference = ConferenceFactory()
    elsewhere = AttendanceFactory()

    unknown = admin_api.post(_url(conference, "check-ins/"), {"badge_code": "NOPE"}, format="json")
    foreign = admin_api.post(_url(conference, "check-ins/"), {"badge_code": elsewhere.badge_code}, format="json")

    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"
    assert foreign.status_code == 404


def test_check_in_needs_staff(api, user_api):
    conference = ConferenceFactory()
    attendance = AttendanceFactory(conference=conference)
    body = {"badge_code": attendance.badge_code}

    assert api.post(_url(conference, "check-ins/"), body, format="json").status_code == 401
    denied = user_api.post(_url(conference, "check-ins/"), body, format="json")
    assert denied.status_code == 403
    assert denied.json()["code"] == "PERMISSION_DENIED"
    attendance.refresh_from_db()
    assert attendance.status == AttendanceStatus.REGISTERED


def test_check_in_needs_badge_code(admin_api):
    conference = ConferenceFactory()

    response = admin_api.post(_url(conference, "check-ins/"), {}, format="json")

    assert response.status_code == 400
    assert "badge_code" in response.json()["details"]
