"""Co-organizers: admins name them per conference; they manage that conference only."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from conferences.models import Attendance, ConferenceOrganizer
from conferences.organizers import add_organizer
from tests.conftest import client_for
from tests.factories import AttendanceFactory, ConferenceFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_admin_adds_lists_and_removes_a_co_organizer(admin_api):
    conference = ConferenceFactory(slug="ibw")
    ada = UserFactory(first_name="Ada")

    added = admin_api.post("/api/v1/conferences/ibw/organizers/", {"user": ada.pk}, format="json")
    again = admin_api.post("/api/v1/conferences/ibw/organizers/", {"user": ada.pk}, format="json")
    listed = admin_api.get("/api/v1/conferences/ibw/organizers/")
    removed = admin_api.delete(f"/api/v1/conferences/ibw/organizers/{ada.pk}/")
    removed_again = admin_api.delete(f"/api/v1/conferences/ibw/organizers/{ada.pk}/")

    assert added.status_code == 201
    assert added.json()["user"]["id"] == ada.pk
    assert added.json()["user"]["first_name"] == "Ada"
    assert again.status_code == 200
    assert [row["user"]["id"] for row in listed.json()["results"]] == [ada.pk]
    assert removed.status_code == 204
    assert removed_again.status_code == 404
    assert removed_again.json()["code"] == "NOT_FOUND"
    assert not ConferenceOrganizer.objects.filter(conference=conference).exists()


def test_adding_an_unknown_user_is_404_and_a_bad_body_400(admin_api):
    ConferenceFactory(slug="ibw")

    unknown = admin_api.post("/api/v1/conferences/ibw/organizers/", {"user": 999999}, format="json")
    bad = admin_api.post("/api/v1/conferences/ibw/organizers/", {"user": "ada"}, format="json")
    no_conference = admin_api.get("/api/v1/conferences/nope/organizers/")

    assert unknown.status_code == 404
    assert bad.status_code == 400
    assert bad.json()["code"] == "VALIDATION_ERROR"
    assert no_conference.status_code == 404


def test_a_co_organizer_may_not_name_organizers():
    conference = ConferenceFactory(slug="ibw")
    organizer = UserFactory()
    add_organizer(conference, user=organizer)

    response = client_for(organizer).post("/api/v1/conferences/ibw/organizers/", {"user": organizer.pk}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"


def test_co_organizer_checks_in_at_their_conference_only():
    ours = ConferenceFactory(slug="ours")
    ConferenceFactory(slug="theirs")
    organizer = UserFactory()
    add_organizer(ours, user=organizer)
    guest_here = AttendanceFactory(conference=ours)
    guest_there = AttendanceFactory(conference__slug="elsewhere")
    api = client_for(organizer)

    here = api.post("/api/v1/conferences/ours/check-ins/", {"badge_code": guest_here.badge_code}, format="json")
    there = api.post("/api/v1/conferences/elsewhere/check-ins/", {"badge_code": guest_there.badge_code}, format="json")

    assert here.status_code == 200
    assert here.json()["status"] == "checked_in"
    assert there.status_code == 403
    assert there.json()["code"] == "PERMISSION_DENIED"
    assert Attendance.objects.get(pk=guest_there.pk).status == "registered"


@pytest.mark.django_db(transaction=True)
def test_racing_adds_keep_one_row():
    if connection.vendor != "postgresql":
        pytest.skip("row races need PostgreSQL")
    conference = ConferenceFactory()
    person = UserFactory()
    barrier = threading.Barrier(8)
    results = []

    def add():
        barrier.wait()
        try:
            results.append(add_organizer(conference, user=person)[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]
    assert ConferenceOrganizer.objects.filter(conference=conference, user=person).count() == 1


@pytest.mark.parametrize("count", [1, 5])
def test_organizer_list_runs_a_constant_number_of_queries(admin_api, django_assert_max_num_queries, count):
    conference = ConferenceFactory(slug="ibw")
    for _ in range(count):
        add_organizer(conference, user=UserFactory())

    with django_assert_max_num_queries(2):
        response = admin_api.get("/api/v1/conferences/ibw/organizers/")

    assert len(response.json()["results"]) == count
