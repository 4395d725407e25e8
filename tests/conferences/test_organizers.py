"""Co-organizers: admins name them per conference; they manage that conference only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from broadcasts.models import Broadcast
from conferences.models import Attendance, ConferenceOrganizer
from conferences.organizers import add_organizer, remove_organizer
from events.models import Event
from quests.models import Quest, Reward, Submission, Task
from tests.conftest import client_for
from tests.factories import AttendanceFactory, ConferenceFactory, EventFactory, UserFactory

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


def _in_threads(action, count: int = 8) -> list:
    """Run ``action`` in ``count`` threads released together; return what each returned."""
    barrier = threading.Barrier(count)
    results = []

    def run():
        barrier.wait()
        try:
            results.append(action())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_racing_adds_keep_one_row():
    if connection.vendor != "postgresql":
        pytest.skip("row races need PostgreSQL")
    conference = ConferenceFactory()
    person = UserFactory()

    results = _in_threads(lambda: add_organizer(conference, user=person)[1])

    assert sorted(results) == [False] * 7 + [True]
    assert ConferenceOrganizer.objects.filter(conference=conference, user=person).count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_removals_remove_once_and_the_next_request_is_refused():
    if connection.vendor != "postgresql":
        pytest.skip("row races need PostgreSQL")
    conference = ConferenceFactory(slug="ibw")
    person = UserFactory()
    add_organizer(conference, user=person)

    results = _in_threads(lambda: remove_organizer(conference, user=person))
    response = client_for(person).patch("/api/v1/conferences/ibw/", {"name": "Mine"}, format="json")

    # The row lock of the DELETE lets exactly one remover see the row (one 204, the others 404 over the API).
    assert sorted(results) == [False] * 7 + [True]
    assert response.status_code == 403
    assert not ConferenceOrganizer.objects.filter(conference=conference).exists()


@pytest.mark.parametrize("count", [1, 5])
def test_organizer_list_runs_a_constant_number_of_queries(admin_api, django_assert_max_num_queries, count):
    conference = ConferenceFactory(slug="ibw")
    for _ in range(count):
        add_organizer(conference, user=UserFactory())

    with django_assert_max_num_queries(2):
        response = admin_api.get("/api/v1/conferences/ibw/organizers/")

    assert len(response.json()["results"]) == count


# --- What a co-organizer may do across the API (the schema-wide matrix is in tests/security) ---------


def _two_conferences():
    """``ours`` with its co-organizer (returned with their client), and ``theirs``."""
    ours = ConferenceFactory(slug="ours")
    theirs = ConferenceFactory(slug="theirs")
    organizer = UserFactory()
    add_organizer(ours, user=organizer)
    return ours, theirs, client_for(organizer)


def _event_body(slug: str | None) -> dict:
    start = timezone.now() + timedelta(days=1)
    return {
        "title": "Afterparty",
        "conference": slug,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=3)).isoformat(),
    }


def test_a_co_organizer_creates_side_events_for_their_conference_only():
    _, _, api = _two_conferences()

    ours = api.post("/api/v1/events/", _event_body("ours"), format="json")
    theirs = api.post("/api/v1/events/", _event_body("theirs"), format="json")
    nowhere = api.post("/api/v1/events/", _event_body(None), format="json")

    assert ours.status_code == 201
    assert ours.json()["conference"] == "ours"
    assert (theirs.status_code, theirs.json()["code"]) == (403, "PERMISSION_DENIED")
    assert (nowhere.status_code, nowhere.json()["code"]) == (403, "PERMISSION_DENIED")
    assert list(Event.objects.values_list("conference__slug", flat=True)) == ["ours"]


def test_a_co_organizer_edits_their_conferences_events_but_cannot_move_one_away():
    ours, theirs, api = _two_conferences()
    event = EventFactory(conference=ours, host=UserFactory(), title="Old")
    elsewhere = EventFactory(conference=theirs, host=UserFactory(), title="Theirs")

    renamed = api.patch(f"/api/v1/events/{event.pk}/", {"title": "New"}, format="json")
    moved = api.patch(f"/api/v1/events/{event.pk}/", {"conference": "theirs"}, format="json")
    other = api.patch(f"/api/v1/events/{elsewhere.pk}/", {"title": "Mine now"}, format="json")

    assert renamed.status_code == 200
    assert (moved.status_code, other.status_code) == (403, 403)
    assert list(Event.objects.order_by("pk").values_list("title", "conference__slug")) == [
        ("New", "ours"),
        ("Theirs", "theirs"),
    ]


def _quest_body(slug: str | None) -> dict:
    return {
        "title": "Explorer",
        "conference": slug,
        "tasks": [{"title": "Find the code", "type": "code", "points": 10, "config": {"code": "ibw"}}],
    }


def test_a_co_organizer_creates_quests_and_rewards_for_their_conference_only():
    ours, theirs, api = _two_conferences()
    their_quest = Quest.objects.create(title="Theirs", conference=theirs)

    created = api.post("/api/v1/quests/", _quest_body("ours"), format="json")
    elsewhere = api.post("/api/v1/quests/", _quest_body("theirs"), format="json")
    global_quest = api.post("/api/v1/quests/", _quest_body(None), format="json")
    reward = api.post(f"/api/v1/quests/{created.json()['id']}/rewards/", {"title": "Mug", "stock": 2}, format="json")
    their_reward = api.post(f"/api/v1/quests/{their_quest.pk}/rewards/", {"title": "Mug", "stock": 2}, format="json")

    assert (created.status_code, reward.status_code) == (201, 201)
    assert (elsewhere.status_code, global_quest.status_code, their_reward.status_code) == (403, 403, 403)
    assert list(Quest.objects.order_by("pk").values_list("title", "conference__slug")) == [
        ("Theirs", "theirs"),
        ("Explorer", "ours"),
    ]
    assert list(Reward.objects.values_list("quest__conference__slug", flat=True)) == ["ours"]


def test_a_co_organizer_sees_their_conferences_inactive_quests_only():
    ours, theirs, api = _two_conferences()
    hidden_ours = Quest.objects.create(title="Draft ours", conference=ours, is_active=False)
    Quest.objects.create(title="Draft theirs", conference=theirs, is_active=False)
    live = Quest.objects.create(title="Live theirs", conference=theirs)

    listed = api.get("/api/v1/quests/").json()["results"]

    assert sorted(quest["id"] for quest in listed) == sorted([hidden_ours.pk, live.pk])
    assert api.get(f"/api/v1/quests/{hidden_ours.pk}/").status_code == 200


def _pending_submission(conference) -> Submission:
    quest = Quest.objects.create(title=f"Q {conference.slug}", conference=conference)
    task = Task.objects.create(quest=quest, title="Proof", type="proof", config={"kind": "text"})
    return Submission.objects.create(task=task, user=UserFactory(), status="pending", text="done")


def test_a_co_organizer_reviews_their_conferences_submissions_only():
    ours, theirs, api = _two_conferences()
    mine, other = _pending_submission(ours), _pending_submission(theirs)

    listed = api.get("/api/v1/quests/submissions/").json()["results"]
    approved = api.post(f"/api/v1/quests/submissions/{mine.pk}/review/", {"decision": "approve"}, format="json")
    refused = api.post(f"/api/v1/quests/submissions/{other.pk}/review/", {"decision": "approve"}, format="json")

    assert [row["id"] for row in listed] == [mine.pk]
    assert approved.json()["status"] == "approved"
    assert (refused.status_code, refused.json()["code"]) == (403, "PERMISSION_DENIED")
    other.refresh_from_db()
    assert other.status == "pending"


def test_a_co_organizer_broadcasts_to_their_conference_only():
    ours, theirs, api = _two_conferences()
    AttendanceFactory(conference=ours)
    their_quest = Quest.objects.create(title="Theirs", conference=theirs)

    def body(audience: dict) -> dict:
        return {"title": "Hello", "audience": audience, "channels": ["in_app"]}

    preview = api.post(
        "/api/v1/admin/broadcasts/preview/", {"audience": {"segment": "attendees", "conference": "ours"}}, format="json"
    )
    created = api.post("/api/v1/admin/broadcasts/", body({"segment": "attendees", "conference": "ours"}), format="json")
    theirs_ = api.post(
        "/api/v1/admin/broadcasts/", body({"segment": "attendees", "conference": "theirs"}), format="json"
    )
    everyone = api.post("/api/v1/admin/broadcasts/", body({"segment": "all"}), format="json")
    their_people = api.post(
        "/api/v1/admin/broadcasts/",
        body({"segment": "quest_completed", "conference": "ours", "quest": their_quest.pk}),
        format="json",
    )

    assert preview.json() == {"total": 1}
    assert created.status_code == 201
    assert (theirs_.status_code, everyone.status_code) == (403, 403)
    assert their_people.status_code == 400
    assert their_people.json()["details"]["audience"]["quest"] == ["The quest is not part of this conference."]
    assert list(Broadcast.objects.values_list("audience", flat=True)) == [
        {"segment": "attendees", "conference": "ours"}
    ]


def test_a_co_organizer_cannot_see_or_cancel_another_conferences_broadcast():
    _, _, api = _two_conferences()
    other = Broadcast.objects.create(
        title="T", audience={"segment": "attendees", "conference": "theirs"}, channels=["in_app"]
    )
    everyone = Broadcast.objects.create(title="A", audience={"segment": "all"}, channels=["in_app"])

    responses = [
        api.get(f"/api/v1/admin/broadcasts/{other.pk}/"),
        api.post(f"/api/v1/admin/broadcasts/{other.pk}/cancel/"),
        api.get(f"/api/v1/admin/broadcasts/{everyone.pk}/"),
        api.post(f"/api/v1/admin/broadcasts/{everyone.pk}/cancel/"),
    ]

    assert [response.status_code for response in responses] == [403, 403, 403, 403]
    assert "cancelled" not in set(Broadcast.objects.values_list("status", flat=True))


@pytest.mark.parametrize("count", [1, 5])
def test_co_organizer_lists_run_a_constant_number_of_queries(django_assert_max_num_queries, count):
    ours, theirs, api = _two_conferences()
    for _ in range(count):
        _pending_submission(ours)
        _pending_submission(theirs)
        Broadcast.objects.create(
            title="B", audience={"segment": "attendees", "conference": "ours"}, channels=["in_app"]
        )
        Broadcast.objects.create(
            title="B", audience={"segment": "attendees", "conference": "theirs"}, channels=["in_app"]
        )

    with django_assert_max_num_queries(6):
        submissions = api.get("/api/v1/quests/submissions/")
    with django_assert_max_num_queries(6):
        broadcasts = api.get("/api/v1/admin/broadcasts/")

    assert (submissions.json()["count"], broadcasts.json()["count"]) == (count, count)


def test_removing_a_co_organizer_takes_effect_on_their_next_request():
    ours, _, api = _two_conferences()
    guest = AttendanceFactory(conference=ours)
    organizer = ConferenceOrganizer.objects.get(conference=ours).user

    before = api.patch("/api/v1/conferences/ours/", {"name": "Renamed"}, format="json")
    remove_organizer(ours, user=organizer)
    after = api.patch("/api/v1/conferences/ours/", {"name": "Again"}, format="json")
    check_in = api.post("/api/v1/conferences/ours/check-ins/", {"badge_code": guest.badge_code}, format="json")

    assert before.status_code == 200
    assert (after.status_code, check_in.status_code) == (403, 403)
    ours.refresh_from_db()
    assert ours.name == "Renamed"


def test_a_co_organizer_cannot_chain_their_quest_to_another_conferences():
    _, theirs, api = _two_conferences()
    their_quest = Quest.objects.create(title="Theirs", conference=theirs)

    response = api.post("/api/v1/quests/", {**_quest_body("ours"), "prerequisite": their_quest.pk}, format="json")

    assert (response.status_code, response.json()["code"]) == (403, "PERMISSION_DENIED")
    assert Quest.objects.count() == 1
