from __future__ import annotations

import pytest
from django.test import Client

from notifications.models import Notification
from quests.models import Quest, Submission, SubmissionStatus
from quests.verification import answer_matches
from tests.conftest import client_for
from tests.factories import AdminUserFactory, UserFactory
from tests.quests.conftest import make_quest, submit_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(AdminUserFactory(is_superuser=True))
    return client


def test_admin_quest_inline_hashes_a_new_code_and_keeps_an_existing_hash(admin_client):
    response = admin_client.post(
        "/admin/quests/quest/add/",
        {
            "title": "Hunt",
            "description": "",
            "bonus_points": "0",
            "is_active": "on",
            "tasks-TOTAL_FORMS": "1",
            "tasks-INITIAL_FORMS": "0",
            "tasks-0-title": "Code",
            "tasks-0-type": "code",
            "tasks-0-points": "10",
            "tasks-0-order": "0",
            "tasks-0-config": '{"code": "Tulip-42"}',
        },
    )

    assert response.status_code == 302, response.content[:2000]
    task = Quest.objects.get(title="Hunt").tasks.get()
    assert list(task.config) == ["code_hash"]
    assert answer_matches(" tulip-42 ", task.config["code_hash"])


def test_admin_quest_inline_rejects_a_bad_config(admin_client):
    response = admin_client.post(
        "/admin/quests/quest/add/",
        {
            "title": "Hunt",
            "bonus_points": "0",
            "tasks-TOTAL_FORMS": "1",
            "tasks-INITIAL_FORMS": "0",
            "tasks-0-title": "Meet",
            "tasks-0-type": "connections",
            "tasks-0-points": "10",
            "tasks-0-order": "0",
            "tasks-0-config": '{"count": -1}',
        },
    )

    assert response.status_code == 200
    assert b"&#x27;count&#x27; must be a positive integer." in response.content
    assert not Quest.objects.exists()


@pytest.mark.parametrize(
    ("action", "status"), [("approve_submissions", "approved"), ("reject_submissions", "rejected")]
)
def test_admin_bulk_actions_review_pending_submissions_through_the_service(admin_client, action, status):
    task = make_quest(tasks=[{"title": "Photo", "type": "proof", "points": 20, "config": {"kind": "url"}}]).tasks.get()
    users = UserFactory.create_batch(2)
    for user in users:
        client_for(user).post(submit_url(task), {"proof_url": "https://example.org/p.jpg"}, format="json")
    ids = list(Submission.objects.values_list("pk", flat=True))

    response = admin_client.post(
        "/admin/quests/submission/", {"action": action, "_selected_action": [str(pk) for pk in ids]}
    )

    assert response.status_code == 302
    assert sorted(Submission.objects.values_list("status", flat=True)) == [status, status]
    expected = 20 if status == SubmissionStatus.APPROVED else 0
    for user in users:
        user.refresh_from_db()
        assert user.points == expected
    assert Notification.objects.filter(kind="submission_reviewed").count() == 2


def test_admin_pages_render(admin_client):
    make_quest()

    for url in [
        "/admin/quests/quest/",
        "/admin/quests/quest/add/",
        "/admin/quests/submission/",
        "/admin/quests/pointsentry/",
    ]:
        assert admin_client.get(url).status_code == 200, url
