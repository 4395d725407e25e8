"""Races of the v1.1 quest rows, with threads against PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection

from conferences.models import Attendance
from quests.models import PointsEntry, QuestCompletion, Reward, RewardClaim, Submission, SubmissionStatus, TaskType
from quests.services import accept_invite, invite_code_for
from tests.conftest import ADMIN_KEY, client_for
from tests.factories import AttendanceFactory, ConferenceFactory, UserFactory
from tests.quests.conftest import make_quest
from tests.races import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def _needs_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks and concurrent connections")


def test_fifty_claimers_for_ten_items_get_exactly_ten():
    _needs_postgres()
    quest = make_quest(title="Raced")
    reward = Reward.objects.create(quest=quest, title="Hoodie", stock=10)
    clients = []
    for _ in range(50):
        user = UserFactory()
        QuestCompletion.objects.create(quest=quest, user=user)
        clients.append(client_for(user))
    url = f"/api/v1/quests/{quest.pk}/rewards/{reward.pk}/claim/"

    responses = run_together([lambda c=c: c.post(url) for c in clients])

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 10 + [409] * 40
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"OUT_OF_STOCK"}
    assert RewardClaim.objects.filter(reward=reward).count() == 10
    assert len(set(RewardClaim.objects.values_list("code", flat=True))) == 10


def test_one_person_claiming_ten_times_at_once_gets_one_claim():
    _needs_postgres()
    quest = make_quest(title="Raced")
    reward = Reward.objects.create(quest=quest, title="Hoodie", stock=10)
    user = UserFactory()
    QuestCompletion.objects.create(quest=quest, user=user)
    url = f"/api/v1/quests/{quest.pk}/rewards/{reward.pk}/claim/"

    responses = run_together([lambda: client_for(user).post(url) for _ in range(10)])

    assert sorted(r.status_code for r in responses).count(201) == 1
    assert {r.json()["code"] for r in responses} == {RewardClaim.objects.get().code}


def test_two_invitees_checked_in_at_the_same_moment_complete_the_task_once():
    _needs_postgres()
    conference = ConferenceFactory()
    quest = make_quest(
        conference=conference,
        tasks=[{"title": "Bring two", "type": TaskType.INVITE, "points": 40, "config": {"count": 2}}],
    )
    task = quest.tasks.get()
    inviter = UserFactory()
    code = invite_code_for(inviter).code
    badges = []
    for _ in range(2):
        invitee = UserFactory()
        accept_invite(invitee, code=code)
        badges.append(AttendanceFactory(conference=conference, user=invitee).badge_code)
    url = f"/api/v1/conferences/{conference.slug}/check-ins/"

    def scan(badge: str):
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_X_ADMIN_KEY=ADMIN_KEY)
        return client.post(url, {"badge_code": badge}, format="json").status_code

    assert run_together([lambda b=b: scan(b) for b in badges]) == [200, 200]

    assert Attendance.objects.filter(conference=conference, status="checked_in").count() == 2
    assert list(Submission.objects.filter(task=task).values_list("user_id", "status")) == [
        (inviter.pk, SubmissionStatus.APPROVED)
    ]
    assert PointsEntry.objects.filter(user=inviter, source=f"task:{task.pk}").count() == 1
    inviter.refresh_from_db()
    assert inviter.points == 40


def test_racing_invites_of_one_invitee_keep_one_inviter():
    _needs_postgres()
    invitee = UserFactory()
    codes = [invite_code_for(UserFactory()).code for _ in range(8)]

    def accept(code: str) -> str:
        try:
            accept_invite(invitee, code=code)
            return "ok"
        except Exception as exc:  # noqa: BLE001 - the outcome is the assertion
            return type(exc).__name__

    outcomes = run_together([lambda c=c: accept(c) for c in codes])

    assert sorted(outcomes) == ["AlreadyInvited"] * 7 + ["ok"]
