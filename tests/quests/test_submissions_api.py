from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conferences.models import AttendanceStatus
from connections.models import Connection, ConnectionStatus
from events.models import RSVP, RSVPStatus
from notifications.models import Notification
from quests.models import PointsEntry, QuestCompletion, Submission, SubmissionStatus, TaskType
from quests.selectors import quest_progress_for, users_who_completed
from quests.tasks import recheck_submission_task
from tests.conftest import client_for
from tests.factories import AttendanceFactory, ConferenceFactory, EventFactory, UserFactory
from tests.quests.conftest import (
    CHAT_ID,
    QUIZ_ANSWER,
    SECRET_CODE,
    code_task,
    make_quest,
    quiz_task,
    submit_url,
    telegram_task,
)

pytestmark = pytest.mark.django_db


def _ledger(user) -> list[tuple[int, str]]:
    return list(PointsEntry.objects.filter(user=user).order_by("id").values_list("points", "source"))


# --- code and quiz -------------------------------------------------------------------


def test_submit_code_correct_is_approved_and_awards_points_once(user, user_api):
    quest = make_quest(tasks=[code_task(points=10), quiz_task(points=5)])
    task = quest.tasks.get(type=TaskType.CODE)

    response = user_api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    assert response.status_code == 201
    submission = Submission.objects.get(user=user)
    assert response.json() == {"id": submission.pk, "status": "approved", "reason": "", "points_awarded": 10}
    assert _ledger(user) == [(10, f"task:{task.pk}")]
    user.refresh_from_db()
    assert user.points == 10


def test_submit_code_is_compared_trimmed_and_case_insensitively(user, user_api):
    task = make_quest().tasks.get()

    response = user_api.post(submit_url(task), {"answer": f"  {SECRET_CODE.upper()}\n"}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "approved"


def test_submit_code_wrong_answer_is_400_and_awards_nothing(user, user_api):
    task = make_quest().tasks.get()

    response = user_api.post(submit_url(task), {"answer": "nope"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"error": "That code is not right.", "code": "WRONG_ANSWER"}
    assert _ledger(user) == []
    assert Submission.objects.get(user=user).status == SubmissionStatus.REJECTED


def test_submit_code_without_answer_is_a_validation_error(user_api):
    task = make_quest().tasks.get()

    response = user_api.post(submit_url(task), {}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == {"answer": ["This field is required."]}


def test_submit_sixth_attempt_after_five_wrong_answers_is_rate_limited(user, user_api):
    task = make_quest().tasks.get()
    for _ in range(5):
        assert user_api.post(submit_url(task), {"answer": "wrong"}, format="json").status_code == 400

    response = user_api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert 590 <= int(response["Retry-After"]) <= 601
    assert _ledger(user) == []


def test_submit_wrong_answers_older_than_ten_minutes_do_not_count(user, user_api):
    task = make_quest().tasks.get()
    for _ in range(5):
        user_api.post(submit_url(task), {"answer": "wrong"}, format="json")
    Submission.objects.update(created_at=timezone.now() - timedelta(minutes=11))

    response = user_api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    assert response.status_code == 201


def test_submit_wrong_answers_are_limited_per_task(user, user_api):
    quest = make_quest(tasks=[code_task(), quiz_task()])
    code, quiz = quest.tasks.get(type="code"), quest.tasks.get(type="quiz")
    for _ in range(5):
        user_api.post(submit_url(code), {"answer": "wrong"}, format="json")

    response = user_api.post(submit_url(quiz), {"answer": QUIZ_ANSWER.lower()}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "approved"


def test_submit_after_approval_is_409_already_completed(user, user_api):
    task = make_quest().tasks.get()
    user_api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    response = user_api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    assert response.status_code == 409
    assert response.json() == {"error": "You have already completed this task.", "code": "ALREADY_COMPLETED"}
    assert _ledger(user) == [(10, f"task:{task.pk}")]


def test_submit_quiz_accepts_any_listed_answer(user_api):
    task = make_quest(tasks=[quiz_task()]).tasks.get()

    wrong = user_api.post(submit_url(task), {"answer": "Ankara"}, format="json")
    right = user_api.post(submit_url(task), {"answer": " byzantium-9 "}, format="json")

    assert wrong.status_code == 400
    assert wrong.json()["code"] == "WRONG_ANSWER"
    assert right.status_code == 201
    assert right.json()["points_awarded"] == 5


# --- the quest window and prerequisites -----------------------------------------------------


@pytest.mark.parametrize(
    ("starts", "ends"),
    [(timedelta(hours=1), timedelta(hours=2)), (timedelta(hours=-2), timedelta(hours=-1))],
    ids=["not-started", "ended"],
)
def test_submit_outside_the_window_is_409_quest_closed(user_api, starts, ends):
    now = timezone.now()
    task = make_quest(starts_at=now + starts, ends_at=now + ends).tasks.get()

    response = user_api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "QUEST_CLOSED"


def test_submit_with_unmet_prerequisite_is_409_quest_locked_until_it_is_completed(user, user_api):
    first = make_quest(title="First", tasks=[quiz_task()])
    second = make_quest(title="Second", prerequisite=first)
    task = second.tasks.get()

    locked = user_api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")
    user_api.post(submit_url(first.tasks.get()), {"answer": QUIZ_ANSWER}, format="json")
    unlocked = user_api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    assert locked.status_code == 409
    assert locked.json() == {"error": "Complete “First” first.", "code": "QUEST_LOCKED"}
    assert unlocked.status_code == 201


def test_submit_to_an_inactive_quest_or_a_task_of_another_quest_is_404(user_api):
    inactive = make_quest(is_active=False).tasks.get()
    other = make_quest().tasks.get()
    quest = make_quest()

    assert user_api.post(submit_url(inactive), {"answer": SECRET_CODE}, format="json").status_code == 404
    response = user_api.post(
        f"/api/v1/quests/{quest.pk}/tasks/{other.pk}/submissions/", {"answer": SECRET_CODE}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_submit_with_the_admin_key_is_403(admin_api):
    task = make_quest().tasks.get()

    response = admin_api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    assert response.status_code == 403


def test_submit_anonymously_is_401(api):
    task = make_quest().tasks.get()

    response = api.post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"


# --- bonus, completion, progress ---------------------------------------------------------------


def test_bonus_is_awarded_once_when_the_last_task_is_approved(user, user_api):
    quest = make_quest(tasks=[code_task(points=10), quiz_task(points=5)], bonus_points=25)
    code, quiz = quest.tasks.get(type="code"), quest.tasks.get(type="quiz")

    first = user_api.post(submit_url(code), {"answer": SECRET_CODE}, format="json")
    last = user_api.post(submit_url(quiz), {"answer": QUIZ_ANSWER}, format="json")
    again = user_api.post(submit_url(quiz), {"answer": QUIZ_ANSWER}, format="json")

    assert first.json()["points_awarded"] == 10
    assert last.json()["points_awarded"] == 30
    assert again.status_code == 409
    assert _ledger(user) == [(10, f"task:{code.pk}"), (5, f"task:{quiz.pk}"), (25, f"quest:{quest.pk}:bonus")]
    user.refresh_from_db()
    assert user.points == 40
    assert QuestCompletion.objects.filter(quest=quest, user=user).count() == 1
    assert list(users_who_completed(quest.pk)) == [user]


def test_quest_progress_for_counts_approved_tasks_of_active_quests(user, user_api):
    quest = make_quest(title="Explore", tasks=[code_task(), quiz_task()])
    make_quest(title="Hidden", is_active=False)
    user_api.post(submit_url(quest.tasks.get(type="code")), {"answer": SECRET_CODE}, format="json")
    user_api.post(submit_url(quest.tasks.get(type="quiz")), {"answer": "wrong"}, format="json")

    assert quest_progress_for(user) == [{"title": "Explore", "completed": 1, "total": 2}]
    assert quest_progress_for(UserFactory()) == [{"title": "Explore", "completed": 0, "total": 2}]


# --- Telegram ----------------------------------------------------------------------------------


def test_submit_telegram_join_as_a_member_is_approved(user, user_api, fake_telegram):
    fake_telegram.chat_members[(str(CHAT_ID), user.telegram_id)] = "member"
    task = make_quest(tasks=[telegram_task()]).tasks.get()

    response = user_api.post(submit_url(task), {}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "approved"
    assert response.json()["points_awarded"] == 15
    call = fake_telegram.calls_of("getChatMember")[0]
    assert (int(call.params["chat_id"]), int(call.params["user_id"])) == (CHAT_ID, user.telegram_id)


def test_submit_telegram_join_when_not_a_member_is_rejected_with_what_to_do(user, user_api, fake_telegram):
    fake_telegram.chat_members[(str(CHAT_ID), user.telegram_id)] = "left"
    task = make_quest(tasks=[telegram_task()]).tasks.get()

    response = user_api.post(submit_url(task), {}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "rejected"
    assert response.json()["reason"] == "You have not joined yet: join https://t.me/+ibwchat, then submit again."
    assert response.json()["points_awarded"] == 0


def test_submit_telegram_join_without_telegram_account_is_rejected(fake_telegram):
    user = UserFactory(telegram_id=None, email="web@example.org")
    task = make_quest(tasks=[telegram_task()]).tasks.get()

    response = client_for(user).post(submit_url(task), {}, format="json")

    assert response.json()["status"] == "rejected"
    assert fake_telegram.calls_of("getChatMember") == []


@pytest.mark.parametrize(("status", "retry_after"), [(502, None), (429, 3)], ids=["unreachable", "flood-control"])
def test_submit_telegram_join_when_telegram_fails_is_pending_then_rechecked(
    user, user_api, fake_telegram, django_capture_on_commit_callbacks, status, retry_after
):
    fake_telegram.chat_members[(str(CHAT_ID), user.telegram_id)] = "member"
    fake_telegram.fail("getChatMember", status, retry_after=retry_after)
    task = make_quest(tasks=[telegram_task()]).tasks.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(submit_url(task), {}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert response.json()["reason"] == "We could not reach Telegram; we will check again shortly."
    # The re-check ran after commit (eagerly here) and Telegram answered this time.
    submission = Submission.objects.get(user=user)
    assert submission.status == SubmissionStatus.APPROVED
    assert _ledger(user) == [(15, f"task:{task.pk}")]
    assert Notification.objects.get(user=user).kind == "submission_reviewed"


def test_recheck_task_leaves_a_submission_pending_while_telegram_is_down(user, user_api, fake_telegram):
    task = make_quest(tasks=[telegram_task()]).tasks.get()
    fake_telegram.fail("getChatMember", 500, times=2)
    user_api.post(submit_url(task), {}, format="json")
    submission = Submission.objects.get(user=user)

    recheck_submission_task.delay(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.PENDING
    assert _ledger(user) == []


def test_resubmitting_a_pending_telegram_join_checks_again_and_keeps_one_row(user, user_api, fake_telegram):
    task = make_quest(tasks=[telegram_task()]).tasks.get()
    fake_telegram.fail("getChatMember", 500)
    user_api.post(submit_url(task), {}, format="json")
    fake_telegram.chat_members[(str(CHAT_ID), user.telegram_id)] = "member"

    response = user_api.post(submit_url(task), {}, format="json")

    assert response.json()["status"] == "approved"
    assert Submission.objects.filter(user=user).count() == 1


# --- check-ins and connections ---------------------------------------------------------------------


def test_submit_conference_checkin_needs_a_check_in_at_the_quests_conference(user, user_api):
    conference = ConferenceFactory()
    task = make_quest(
        conference=conference,
        tasks=[{"title": "Check in", "type": "conference_checkin", "points": 20, "config": {}}],
    ).tasks.get()
    attendance = AttendanceFactory(conference=conference, user=user)
    AttendanceFactory(user=user, status=AttendanceStatus.CHECKED_IN)  # another conference

    before = user_api.post(submit_url(task), {}, format="json")
    attendance.status = AttendanceStatus.CHECKED_IN
    attendance.save()
    after = user_api.post(submit_url(task), {}, format="json")

    assert before.json()["status"] == "rejected"
    assert before.json()["reason"] == "You have not checked in yet: show your badge at the entrance."
    assert after.json()["status"] == "approved"


def test_submit_event_checkin_needs_a_checked_in_rsvp(user, user_api):
    event = EventFactory()
    task = make_quest(
        tasks=[{"title": "Drinks", "type": "event_checkin", "points": 5, "config": {"event": event.pk}}]
    ).tasks.get()
    rsvp = RSVP.objects.create(event=event, user=user, status=RSVPStatus.GOING)

    before = user_api.post(submit_url(task), {}, format="json")
    rsvp.checked_in_at = timezone.now()
    rsvp.save()
    after = user_api.post(submit_url(task), {}, format="json")

    assert before.json()["status"] == "rejected"
    assert after.json()["status"] == "approved"


def test_submit_connections_needs_enough_accepted_connections(user, user_api):
    task = make_quest(
        tasks=[{"title": "Meet people", "type": "connections", "points": 30, "config": {"count": 2}}]
    ).tasks.get()
    Connection.objects.create(from_user=user, to_user=UserFactory(), status=ConnectionStatus.ACCEPTED)
    Connection.objects.create(from_user=user, to_user=UserFactory(), status=ConnectionStatus.PENDING)

    before = user_api.post(submit_url(task), {}, format="json")
    Connection.objects.create(from_user=UserFactory(), to_user=user, status=ConnectionStatus.ACCEPTED)
    after = user_api.post(submit_url(task), {}, format="json")

    assert before.json()["status"] == "rejected"
    assert before.json()["reason"] == "You have 1 of 2 connections: meet 1 more."
    assert after.json()["status"] == "approved"


# --- proof and review --------------------------------------------------------------------------------


def _proof_quest(kind: str = "url"):
    return make_quest(tasks=[{"title": "Photo", "type": "proof", "points": 20, "config": {"kind": kind}}])


def test_submit_proof_goes_to_pending_and_cannot_be_sent_twice(user, user_api):
    task = _proof_quest().tasks.get()

    response = user_api.post(submit_url(task), {"proof_url": "https://example.org/stage.jpg"}, format="json")
    again = user_api.post(submit_url(task), {"proof_url": "https://example.org/other.jpg"}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert again.status_code == 409
    assert again.json()["code"] == "SUBMISSION_PENDING"


def test_submit_text_proof_needs_text(user_api):
    task = _proof_quest("text").tasks.get()

    missing = user_api.post(submit_url(task), {"proof_url": "https://example.org/x"}, format="json")
    given = user_api.post(submit_url(task), {"text": "I met the keynote speaker."}, format="json")

    assert missing.json()["details"] == {"text": ["This field is required."]}
    assert given.json()["status"] == "pending"


def test_review_approve_awards_points_and_notifies_the_user(user, user_api, admin_api):
    task = _proof_quest().tasks.get()
    user_api.post(submit_url(task), {"proof_url": "https://example.org/stage.jpg"}, format="json")
    submission = Submission.objects.get(user=user)

    response = admin_api.post(
        f"/api/v1/quests/submissions/{submission.pk}/review/", {"decision": "approve"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["points_awarded"], body["reviewer"]) == (
        submission.pk,
        "approved",
        20,
        None,
    )
    assert _ledger(user) == [(20, f"task:{task.pk}")]
    notification = Notification.objects.get(user=user)
    assert (notification.kind, notification.title) == ("submission_reviewed", "“Photo” approved")
    assert notification.data == {
        "submission": submission.pk,
        "quest": task.quest_id,
        "task": task.pk,
        "status": "approved",
        "points_awarded": 20,
    }


def test_review_reject_records_the_reason_and_notifies(user, user_api, admin_user):
    task = _proof_quest().tasks.get()
    user_api.post(submit_url(task), {"proof_url": "https://example.org/stage.jpg"}, format="json")
    submission = Submission.objects.get(user=user)

    response = client_for(admin_user).post(
        f"/api/v1/quests/submissions/{submission.pk}/review/",
        {"decision": "reject", "reason": "The photo is blurry."},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"], response.json()["reviewer"]) == (
        "rejected",
        "The photo is blurry.",
        admin_user.pk,
    )
    assert _ledger(user) == []
    assert Notification.objects.get(user=user).body == "The photo is blurry."
    # Rejected: the user may try again.
    retry = user_api.post(submit_url(task), {"proof_url": "https://example.org/sharp.jpg"}, format="json")
    assert retry.json()["status"] == "pending"


def test_review_of_a_decided_submission_is_409(user, user_api, admin_api):
    task = _proof_quest().tasks.get()
    user_api.post(submit_url(task), {"proof_url": "https://example.org/stage.jpg"}, format="json")
    submission = Submission.objects.get(user=user)
    url = f"/api/v1/quests/submissions/{submission.pk}/review/"
    admin_api.post(url, {"decision": "approve"}, format="json")

    response = admin_api.post(url, {"decision": "approve"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "ALREADY_REVIEWED"
    assert _ledger(user) == [(20, f"task:{task.pk}")]


def test_review_needs_an_admin(user_api, api):
    assert user_api.post("/api/v1/quests/submissions/1/review/", {"decision": "approve"}).status_code == 403
    assert api.post("/api/v1/quests/submissions/1/review/", {"decision": "approve"}).status_code == 401


def test_review_of_an_unknown_submission_is_404(admin_api):
    response = admin_api.post("/api/v1/quests/submissions/999999/review/", {"decision": "approve"}, format="json")

    assert response.status_code == 404


def test_submit_telegram_join_for_a_chat_the_bot_cannot_see_waits_for_an_organiser(
    user, user_api, fake_telegram, django_capture_on_commit_callbacks
):
    fake_telegram.fail("getChatMember", 400, "Bad Request: chat not found", times=5)
    task = make_quest(tasks=[telegram_task()]).tasks.get()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = user_api.post(submit_url(task), {}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert response.json()["reason"] == "We could not check this chat automatically; an organiser will."
    assert callbacks == []  # no automatic re-check: retrying cannot help
    assert len(fake_telegram.calls_of("getChatMember")) == 1


def test_review_with_the_longest_quest_and_task_titles_the_api_accepts(user, user_api, admin_api):
    # Found by reading: "“<task>” approved" outgrew the notification title column and
    # "<quest>: <task>" the ledger's reason column, so the approval answered 500 and rolled back.
    too_long = admin_api.post("/api/v1/quests/", {"title": "Q" * 201, "tasks": []}, format="json")
    assert too_long.status_code == 400
    task_too_long = {"title": "T" * 201, "type": "proof", "points": 20, "config": {"kind": "url"}}
    assert admin_api.post("/api/v1/quests/", {"title": "Q", "tasks": [task_too_long]}, format="json").status_code == 400
    payload = {
        "title": "Q" * 200,
        "bonus_points": 5,
        "tasks": [{"title": "T" * 200, "type": "proof", "points": 20, "config": {"kind": "url"}}],
    }
    created = admin_api.post("/api/v1/quests/", payload, format="json")
    assert created.status_code == 201
    task_id = created.json()["tasks"][0]["id"]
    submitted = user_api.post(
        f"/api/v1/quests/{created.json()['id']}/tasks/{task_id}/submissions/",
        {"proof_url": "https://example.org/stage.jpg"},
        format="json",
    )
    assert submitted.status_code == 201

    response = admin_api.post(
        f"/api/v1/quests/submissions/{submitted.json()['id']}/review/", {"decision": "approve"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["points_awarded"]) == ("approved", 25)
    notification = Notification.objects.get(user=user)
    assert notification.title == "“" + "T" * 198 + "…"
    assert len(notification.title) == 200
    reasons = list(PointsEntry.objects.filter(user=user).order_by("id").values_list("points", "reason"))
    assert reasons == [(20, "Q" * 200 + ": " + "T" * 97 + "…"), (5, "Q" * 200 + ": every task done")]
    assert len(reasons[0][1]) == 300
    user.refresh_from_db()
    assert user.points == 25
