from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from quests.models import PointsEntry, Quest, Submission, Task
from tests.conftest import client_for
from tests.factories import ConferenceFactory, EventFactory, UserFactory
from tests.quests.conftest import CHAT_ID, QUIZ_ANSWER, SECRET_CODE, code_task, make_quest, quiz_task, submit_url

pytestmark = pytest.mark.django_db

SECRETS = [SECRET_CODE, SECRET_CODE.lower(), QUIZ_ANSWER, QUIZ_ANSWER.lower(), "Byzantium-9", str(CHAT_ID), "sha256$"]


def _all_types_payload(conference_slug: str, event_id: int) -> dict:
    return {
        "title": "Explore IBW",
        "description": "Every kind of task.",
        "conference": conference_slug,
        "starts_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "ends_at": (timezone.now() + timedelta(days=1)).isoformat(),
        "bonus_points": 50,
        "tasks": [
            {"title": "Code", "type": "code", "points": 10, "config": {"code": SECRET_CODE}},
            {
                "title": "Quiz",
                "type": "quiz",
                "points": 5,
                "config": {"question": "Old name?", "answers": [QUIZ_ANSWER, "Byzantium-9"]},
            },
            {
                "title": "Chat",
                "type": "telegram_join",
                "points": 15,
                "config": {"chat_id": CHAT_ID, "invite_link": "https://t.me/+ibwchat"},
            },
            {"title": "Arrive", "type": "conference_checkin", "points": 20, "config": {}},
            {"title": "Party", "type": "event_checkin", "points": 5, "config": {"event": event_id}},
            {"title": "Meet", "type": "connections", "points": 30, "config": {"count": 3}},
            {"title": "Photo", "type": "proof", "points": 20, "config": {"kind": "url"}},
        ],
    }


def _assert_no_secret(response) -> None:
    text = json.dumps(response.json())
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked in {response.request['PATH_INFO']}"


def test_quest_create_answers_201_with_public_config_only(admin_api):
    conference, event = ConferenceFactory(slug="ibw"), EventFactory()

    response = admin_api.post("/api/v1/quests/", _all_types_payload("ibw", event.pk), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["conference"] == "ibw"
    assert body["bonus_points"] == 50
    assert body["prerequisite"] is None
    assert body["my_progress"] == {"completed": 0, "total": 7}
    assert [(t["title"], t["type"], t["points"], t["config"], t["my_status"]) for t in body["tasks"]] == [
        ("Code", "code", 10, {}, None),
        ("Quiz", "quiz", 5, {"question": "Old name?"}, None),
        ("Chat", "telegram_join", 15, {"invite_link": "https://t.me/+ibwchat"}, None),
        ("Arrive", "conference_checkin", 20, {}, None),
        ("Party", "event_checkin", 5, {"event": event.pk}, None),
        ("Meet", "connections", 30, {"count": 3}, None),
        ("Photo", "proof", 20, {"kind": "url"}, None),
    ]
    _assert_no_secret(response)
    stored = Task.objects.get(title="Code").config
    assert list(stored) == ["code_hash"]
    assert SECRET_CODE not in json.dumps(stored)
    assert Quest.objects.get().conference == conference


def test_secrets_never_appear_in_any_quest_endpoint(user, admin_api, fake_telegram):
    ConferenceFactory(slug="ibw")
    created = admin_api.post("/api/v1/quests/", _all_types_payload("ibw", EventFactory().pk), format="json")
    quest = Quest.objects.get()
    user_api = client_for(user)
    code = quest.tasks.get(type="code")
    proof = quest.tasks.get(type="proof")

    responses = [
        created,
        user_api.get("/api/v1/quests/"),
        user_api.get(f"/api/v1/quests/{quest.pk}/"),
        admin_api.get("/api/v1/quests/"),
        admin_api.get(f"/api/v1/quests/{quest.pk}/"),
        user_api.post(submit_url(code), {"answer": "wrong guess"}, format="json"),
        user_api.post(submit_url(code), {"answer": SECRET_CODE}, format="json"),
        user_api.post(submit_url(quest.tasks.get(type="quiz")), {"answer": "nope"}, format="json"),
        user_api.post(submit_url(quest.tasks.get(type="telegram_join")), {}, format="json"),
        user_api.post(submit_url(proof), {"proof_url": "https://example.org/p.jpg"}, format="json"),
        admin_api.get("/api/v1/quests/submissions/"),
    ]
    pending = Submission.objects.get(task=proof)
    responses.append(admin_api.post(f"/api/v1/quests/submissions/{pending.pk}/review/", {"decision": "approve"}))
    responses.append(user_api.get("/api/v1/users/me/points/"))

    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200, 400, 201, 400, 201, 201, 200, 200, 200]
    for response in responses:
        _assert_no_secret(response)


def test_quest_create_rejects_a_bad_config_naming_the_task(admin_api):
    payload = {
        "title": "Bad",
        "tasks": [code_task(), {"title": "Quiz", "type": "quiz", "points": 5, "config": {"question": "Q?"}}],
    }

    response = admin_api.post("/api/v1/quests/", payload, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": "tasks: 'answers' is required.",
        "code": "VALIDATION_ERROR",
        "details": {"tasks": [{}, {"config": ["'answers' is required."]}]},
    }
    assert Quest.objects.count() == 0


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            {"type": "conference_checkin", "config": {}},
            "A conference check-in task needs the quest to belong to a conference.",
        ),
        ({"type": "event_checkin", "config": {"event": 999999}}, "There is no event 999999."),
        ({"type": "connections", "config": {"count": 0}}, "'count' must be a positive integer."),
        ({"type": "proof", "config": {"kind": "video"}}, "'kind' must be 'url', 'text' or 'photo'."),
        (
            {"type": "telegram_join", "config": {"invite_link": "https://t.me/x"}},
            "'chat_id' must be a chat id (integer) or an @channel name.",
        ),
        ({"type": "code", "config": {"code": "x", "hint": "y"}}, "Unknown config keys for a code task: hint."),
    ],
)
def test_quest_create_validates_each_task_type(admin_api, task, message):
    payload = {"title": "Bad", "tasks": [{"title": "T", "points": 1, **task}]}

    response = admin_api.post("/api/v1/quests/", payload, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == {"tasks": [{"config": [message]}]}


def test_quest_create_needs_an_admin(user_api, api):
    payload = {"title": "Q", "tasks": [code_task()]}

    assert user_api.post("/api/v1/quests/", payload, format="json").status_code == 403
    assert api.post("/api/v1/quests/", payload, format="json").status_code == 401


def test_quest_list_shows_my_status_and_progress(user, user_api):
    quest = make_quest(tasks=[code_task(), quiz_task()])
    code, quiz = quest.tasks.get(type="code"), quest.tasks.get(type="quiz")
    user_api.post(submit_url(code), {"answer": SECRET_CODE}, format="json")
    user_api.post(submit_url(quiz), {"answer": "wrong"}, format="json")

    response = user_api.get("/api/v1/quests/")

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    item = body["results"][0]
    assert [t["my_status"] for t in item["tasks"]] == ["approved", "rejected"]
    assert item["my_progress"] == {"completed": 1, "total": 2}
    other = client_for(UserFactory()).get("/api/v1/quests/").json()["results"][0]
    assert [t["my_status"] for t in other["tasks"]] == [None, None]


def test_quest_list_filters_by_conference_and_hides_inactive_from_users(user_api, admin_api):
    conference = ConferenceFactory(slug="ibw")
    at_conference = make_quest(title="At IBW", conference=conference)
    make_quest(title="Everywhere")
    make_quest(title="Draft", is_active=False)

    filtered = user_api.get("/api/v1/quests/?conference=ibw").json()
    for_users = user_api.get("/api/v1/quests/").json()
    for_admins = admin_api.get("/api/v1/quests/").json()

    assert [q["id"] for q in filtered["results"]] == [at_conference.pk]
    assert [q["title"] for q in for_users["results"]] == ["At IBW", "Everywhere"]
    assert [q["title"] for q in for_admins["results"]] == ["At IBW", "Everywhere", "Draft"]


def test_quest_detail_of_an_inactive_quest_is_404_for_users(user_api, admin_api):
    quest = make_quest(is_active=False)

    assert user_api.get(f"/api/v1/quests/{quest.pk}/").status_code == 404
    assert admin_api.get(f"/api/v1/quests/{quest.pk}/").status_code == 200


def test_quest_list_needs_a_login(api):
    response = api.get("/api/v1/quests/")

    assert response.status_code == 401


def test_quest_list_query_count_is_constant(user, user_api, django_assert_max_num_queries):
    def add_quests(n: int) -> None:
        for _ in range(n):
            quest = make_quest(conference=ConferenceFactory(), tasks=[code_task(), quiz_task()])
            user_api.post(submit_url(quest.tasks.get(type="code")), {"answer": SECRET_CODE}, format="json")

    add_quests(1)
    with django_assert_max_num_queries(6):
        one = user_api.get("/api/v1/quests/")
    add_quests(4)
    with django_assert_max_num_queries(6):
        five = user_api.get("/api/v1/quests/")

    assert (len(one.json()["results"]), len(five.json()["results"])) == (1, 5)


def test_submissions_path_is_never_read_as_a_quest_id(user_api, admin_api):
    make_quest()

    assert user_api.get("/api/v1/quests/submissions/").status_code == 403
    assert admin_api.get("/api/v1/quests/submissions/").json()["count"] == 0


def test_submission_list_filters_by_status(user, user_api, admin_api):
    quest = make_quest(tasks=[code_task(), {"title": "Photo", "type": "proof", "points": 1, "config": {"kind": "url"}}])
    user_api.post(submit_url(quest.tasks.get(type="code")), {"answer": "wrong"}, format="json")
    user_api.post(submit_url(quest.tasks.get(type="proof")), {"proof_url": "https://example.org/a.jpg"}, format="json")

    pending = admin_api.get("/api/v1/quests/submissions/?status=pending").json()
    everything = admin_api.get("/api/v1/quests/submissions/").json()

    assert pending["count"] == 1
    item = pending["results"][0]
    assert item["quest"] == quest.pk
    assert item["task"] == quest.tasks.get(type="proof").pk
    assert item["user"] == {"id": user.pk, "display_name": user.get_display_name(), "avatar_url": None}
    assert (item["status"], item["proof_url"], item["text"]) == ("pending", "https://example.org/a.jpg", "")
    assert [s["status"] for s in everything["results"]] == ["pending", "rejected"]
    assert admin_api.get("/api/v1/quests/submissions/?status=maybe").status_code == 400


def test_submission_list_query_count_is_constant(admin_api, django_assert_max_num_queries):
    quest = make_quest(tasks=[{"title": "Photo", "type": "proof", "points": 1, "config": {"kind": "text"}}])
    task = quest.tasks.get()

    def add(n: int) -> None:
        for _ in range(n):
            client_for(UserFactory()).post(submit_url(task), {"text": "done"}, format="json")

    add(1)
    with django_assert_max_num_queries(3):
        one = admin_api.get("/api/v1/quests/submissions/")
    add(4)
    with django_assert_max_num_queries(3):
        five = admin_api.get("/api/v1/quests/submissions/")

    assert (one.json()["count"], five.json()["count"]) == (1, 5)


def test_my_points_lists_the_ledger_newest_first(user, user_api):
    quest = make_quest(tasks=[code_task(points=10), quiz_task(points=5)], bonus_points=7, title="Explore")
    user_api.post(submit_url(quest.tasks.get(type="code")), {"answer": SECRET_CODE}, format="json")
    user_api.post(submit_url(quest.tasks.get(type="quiz")), {"answer": QUIZ_ANSWER}, format="json")

    response = user_api.get("/api/v1/users/me/points/")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 22
    assert [(e["points"], e["reason"]) for e in body["results"]] == [
        (7, "Explore: every task done"),
        (5, "Explore: Old name"),
        (10, "Explore: Find the code"),
    ]
    assert set(body["results"][0]) == {"points", "reason", "created_at"}


def test_my_points_query_count_is_constant(user, user_api, django_assert_max_num_queries):
    def add(n: int) -> None:
        for _ in range(n):
            task = make_quest(tasks=[code_task()]).tasks.get()
            user_api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    add(1)
    with django_assert_max_num_queries(3):
        one = user_api.get("/api/v1/users/me/points/")
    add(4)
    with django_assert_max_num_queries(3):
        five = user_api.get("/api/v1/users/me/points/")

    assert (len(one.json()["results"]), len(five.json()["results"])) == (1, 5)
    assert PointsEntry.objects.count() == 5


def test_seed_demo_adds_one_demo_quest_and_stays_idempotent():
    call_command("seed_demo")
    call_command("seed_demo")

    quest = Quest.objects.get(conference__slug="ibw-demo")
    assert quest.tasks.count() == 5
    assert "BOSPHORUS" not in json.dumps(list(quest.tasks.values_list("config", flat=True)))


def test_schema_describes_the_quest_endpoints(api):
    schema = api.get("/api/schema/?format=json").json()

    for path in [
        "/api/v1/quests/",
        "/api/v1/quests/{id}/",
        "/api/v1/quests/{quest_id}/tasks/{task_id}/submissions/",
        "/api/v1/quests/submissions/",
        "/api/v1/quests/submissions/{id}/review/",
        "/api/v1/users/me/points/",
        "/api/v1/leaderboard/",
    ]:
        assert path in schema["paths"], path
