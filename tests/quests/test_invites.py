"""Invite tasks: codes and links, who counts as an invitee, counting at the door, awarding once."""

from __future__ import annotations

import re

import pytest
from django.db import IntegrityError, transaction

from conferences.models import Attendance, AttendanceStatus
from notifications.models import Notification
from quests.models import Invitation, PointsEntry, Submission, SubmissionStatus, TaskType
from quests.services import accept_invite, invite_code_for
from quests.tasks import reconcile_invites_task
from tests.conftest import client_for
from tests.factories import AttendanceFactory, ConferenceFactory, UserFactory
from tests.quests.conftest import make_quest
from tests.telegram import message_update
from users.models import User

pytestmark = pytest.mark.django_db


def invite_task(count: int = 2, points: int = 40) -> dict:
    return {"title": "Bring friends", "type": TaskType.INVITE, "points": points, "config": {"count": count}}


@pytest.fixture
def conference():
    return ConferenceFactory()


@pytest.fixture
def quest(conference, window):
    return make_quest(conference=conference, tasks=[invite_task()], bonus_points=5, **window)


def invite_url(task) -> str:
    return f"/api/v1/quests/{task.quest_id}/tasks/{task.pk}/invite/"


def check_in(admin_api, conference, user, capture) -> None:
    attendance = Attendance.objects.get(conference=conference, user=user)
    with capture(execute=True):
        response = admin_api.post(
            f"/api/v1/conferences/{conference.slug}/check-ins/", {"badge_code": attendance.badge_code}, format="json"
        )
    assert response.status_code == 200


def invite_and_register(inviter, conference) -> User:
    invitee = UserFactory()
    accept_invite(invitee, code=invite_code_for(inviter).code)
    AttendanceFactory(conference=conference, user=invitee)
    return invitee


def my_task(client, quest) -> dict:
    return client.get(f"/api/v1/quests/{quest.pk}/").json()["tasks"][0]


# --- code and link ----------------------------------------------------------------------


def test_invite_gives_the_same_code_and_bot_link_every_time(quest, user_api, user):
    task = quest.tasks.get()

    first = user_api.get(invite_url(task))
    second = user_api.get(invite_url(task))

    assert first.status_code == 200
    code = first.json()["code"]
    assert first.json() == {"code": code, "link": f"https://t.me/ibw_test_bot?start=inv_{code}"}
    assert second.json() == first.json()
    # Telegram's start parameter: at most 64 characters of [A-Za-z0-9_-].
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,60}", f"inv_{code}")
    assert invite_code_for(user).code == code


def test_invite_of_a_task_that_is_not_an_invite_task_is_404(conference, window, user_api):
    quest = make_quest(conference=conference, **window)

    response = user_api.get(invite_url(quest.tasks.get()))

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_invite_task_needs_a_conference(admin_api):
    response = admin_api.post("/api/v1/quests/", {"title": "No conference", "tasks": [invite_task()]}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == {
        "tasks": [{"config": ["An invite task needs the quest to belong to a conference: invitees count there."]}]
    }


@pytest.mark.parametrize("config", [{}, {"count": 0}, {"count": "2"}, {"count": 2, "extra": 1}])
def test_invite_task_needs_a_positive_count(admin_api, conference, config):
    task = {**invite_task(), "config": config}

    response = admin_api.post(
        "/api/v1/quests/", {"title": "Bad", "conference": conference.slug, "tasks": [task]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_invite_task_config_shows_its_count(quest, user_api):
    task = my_task(user_api, quest)

    assert task["type"] == "invite"
    assert task["config"] == {"count": 2}
    assert task["my_status"] == "pending"
    assert task["progress"] == {"done": 0, "needed": 2}


# --- invited-by ------------------------------------------------------------------------


def test_invited_by_records_the_inviter_once(user):
    inviter = UserFactory()
    code = invite_code_for(inviter).code
    client = client_for(user)

    first = client.post("/api/v1/users/me/invited-by/", {"code": code}, format="json")
    again = client.post("/api/v1/users/me/invited-by/", {"code": code}, format="json")

    assert first.status_code == 201
    assert first.json()["inviter"] == {
        "id": inviter.pk,
        "display_name": inviter.get_display_name(),
        "avatar_url": None,
    }
    assert again.status_code == 200
    assert again.json() == first.json()
    assert list(Invitation.objects.values_list("inviter_id", "invitee_id")) == [(inviter.pk, user.pk)]


def test_invited_by_a_second_inviter_is_409(user):
    first, second = UserFactory(), UserFactory()
    client = client_for(user)
    client.post("/api/v1/users/me/invited-by/", {"code": invite_code_for(first).code}, format="json")

    response = client.post("/api/v1/users/me/invited-by/", {"code": invite_code_for(second).code}, format="json")

    assert response.status_code == 409
    assert response.json() == {"error": "Someone else already invited you.", "code": "ALREADY_INVITED"}
    assert list(Invitation.objects.values_list("inviter_id", flat=True)) == [first.pk]


def test_invited_by_own_code_is_400(user, user_api):
    response = user_api.post("/api/v1/users/me/invited-by/", {"code": invite_code_for(user).code}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == {"code": ["This is your own invite code."]}
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("payload", [{"code": "no-such-code"}, {}, {"code": ""}])
def test_invited_by_unknown_or_missing_code_is_400(user_api, payload):
    response = user_api.post("/api/v1/users/me/invited-by/", payload, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "code" in response.json()["details"]
    assert not Invitation.objects.exists()


def test_the_database_refuses_self_invites_and_second_inviters():
    a, b = UserFactory(), UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.create(inviter=a, invitee=a)
    Invitation.objects.create(inviter=a, invitee=b)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.create(inviter=UserFactory(), invitee=b)


# --- counting at the door ------------------------------------------------------------------


def test_invite_task_is_approved_and_awarded_once_when_the_count_is_reached(
    quest, conference, admin_api, django_capture_on_commit_callbacks
):
    inviter = UserFactory()
    client = client_for(inviter)
    task = quest.tasks.get()
    first, second = invite_and_register(inviter, conference), invite_and_register(inviter, conference)

    check_in(admin_api, conference, first, django_capture_on_commit_callbacks)
    halfway = my_task(client, quest)
    check_in(admin_api, conference, second, django_capture_on_commit_callbacks)
    check_in(admin_api, conference, second, django_capture_on_commit_callbacks)  # a second scan changes nothing

    assert halfway["my_status"] == "pending"
    assert halfway["progress"] == {"done": 1, "needed": 2}
    done = my_task(client, quest)
    assert done["my_status"] == "approved"
    assert done["progress"] == {"done": 2, "needed": 2}
    assert list(Submission.objects.filter(task=task).values_list("user_id", "status", "points_awarded")) == [
        (inviter.pk, SubmissionStatus.APPROVED, 45)
    ]
    assert sorted(PointsEntry.objects.filter(user=inviter).values_list("source", "points")) == [
        (f"quest:{quest.pk}:bonus", 5),
        (f"task:{task.pk}", 40),
    ]
    inviter.refresh_from_db()
    assert inviter.points == 45
    assert client.get(f"/api/v1/quests/{quest.pk}/").json()["my_progress"] == {"completed": 1, "total": 1}
    note = Notification.objects.get(user=inviter)
    assert (note.kind, note.data["quest"], note.data["task"]) == ("submission_reviewed", quest.pk, task.pk)


def test_people_registered_before_they_were_invited_do_not_count(
    quest, conference, admin_api, django_capture_on_commit_callbacks
):
    inviter = UserFactory()
    already = UserFactory()
    AttendanceFactory(conference=conference, user=already)
    accept_invite(already, code=invite_code_for(inviter).code)
    fresh = invite_and_register(inviter, conference)

    check_in(admin_api, conference, already, django_capture_on_commit_callbacks)
    check_in(admin_api, conference, fresh, django_capture_on_commit_callbacks)

    assert my_task(client_for(inviter), quest)["progress"] == {"done": 1, "needed": 2}
    assert not Submission.objects.filter(user=inviter).exists()
    assert not PointsEntry.objects.filter(user=inviter).exists()


def test_invitees_checked_in_at_another_conference_do_not_count(
    quest, conference, admin_api, django_capture_on_commit_callbacks
):
    inviter = UserFactory()
    elsewhere = ConferenceFactory()
    invitees = [invite_and_register(inviter, elsewhere) for _ in range(2)]
    for invitee in invitees:
        check_in(admin_api, elsewhere, invitee, django_capture_on_commit_callbacks)

    assert my_task(client_for(inviter), quest)["progress"] == {"done": 0, "needed": 2}
    assert not PointsEntry.objects.filter(user=inviter).exists()


def test_reconciliation_completes_tasks_whose_check_in_was_never_counted(quest, conference):
    inviter = UserFactory()
    for invitee in (invite_and_register(inviter, conference), invite_and_register(inviter, conference)):
        # As if the broker was down at check-in: the row changed, the quests task never ran.
        Attendance.objects.filter(user=invitee).update(status=AttendanceStatus.CHECKED_IN)

    reconcile_invites_task.delay()
    reconcile_invites_task.delay()

    assert Submission.objects.filter(user=inviter, status=SubmissionStatus.APPROVED).count() == 1
    assert PointsEntry.objects.filter(user=inviter, source=f"task:{quest.tasks.get().pk}").count() == 1


def test_submitting_an_invite_task_checks_the_count_again(quest, conference, window):
    inviter = UserFactory()
    task = quest.tasks.get()
    client = client_for(inviter)

    response = client.post(f"/api/v1/quests/{quest.pk}/tasks/{task.pk}/submissions/", {}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "rejected"
    assert response.json()["reason"] == "0 of 2 people you invited have checked in so far."


# --- the bot ---------------------------------------------------------------------------


def test_bot_start_inv_records_the_invite(send_update, fake_telegram):
    inviter = UserFactory()
    code = invite_code_for(inviter).code

    send_update(message_update(f"/start inv_{code}", telegram_id=7301, first_name="Ada"))

    invitee = User.objects.get(telegram_id=7301)
    assert Invitation.objects.get(invitee=invitee).inviter_id == inviter.pk
    [text] = fake_telegram.sent_texts(7301)
    assert text.startswith(f"Welcome, <b>Ada</b>! You were invited by <b>{inviter.get_display_name()}</b>")


def test_bot_start_with_an_unknown_invite_code_answers_plainly(send_update, fake_telegram):
    send_update(message_update("/start inv_nope", telegram_id=7302))

    assert User.objects.filter(telegram_id=7302).exists()
    assert not Invitation.objects.exists()
    [text] = fake_telegram.sent_texts(7302)
    assert text.startswith("No one has this invite code.")


def test_quest_list_with_invite_tasks_keeps_its_query_count(window, django_assert_max_num_queries):
    inviter = UserFactory()
    client = client_for(inviter)

    def add_quests(n: int) -> None:
        for _ in range(n):
            conference = ConferenceFactory()
            make_quest(conference=conference, tasks=[invite_task(count=1)], **window)
            invitee = (
                invite_and_register(inviter, conference)
                if not Invitation.objects.filter(inviter=inviter).exists()
                else None
            )
            if invitee is not None:
                Attendance.objects.filter(user=invitee).update(status=AttendanceStatus.CHECKED_IN)

    add_quests(1)
    with django_assert_max_num_queries(7):
        one = client.get("/api/v1/quests/")
    add_quests(4)
    with django_assert_max_num_queries(7):
        five = client.get("/api/v1/quests/")

    assert [task["progress"] for quest in five.json()["results"] for task in quest["tasks"]] == [
        {"done": 1, "needed": 1}
    ] + [{"done": 0, "needed": 1}] * 4
    assert len(one.json()["results"]) == 1
