from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from quests.models import PointsEntry, Submission, SubmissionStatus
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.quests.conftest import SECRET_CODE, code_task, make_quest, quiz_task, submit_url

THREADS = 20


def _race(url: str, user, payload: dict) -> list[int]:
    barrier = threading.Barrier(THREADS)

    def submit(_: int) -> int:
        try:
            client = client_for(user)
            barrier.wait(timeout=30)
            return client.post(url, payload, format="json").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(submit, range(THREADS)))


@pytest.mark.django_db(transaction=True)
def test_twenty_identical_submissions_award_points_exactly_once():
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks and concurrent connections")
    user = UserFactory()
    # The single task is also the last one: the bonus must land once too.
    quest = make_quest(tasks=[code_task(points=10)], bonus_points=5)
    task = quest.tasks.get()

    statuses = _race(submit_url(task), user, {"answer": SECRET_CODE})

    assert sorted(statuses) == [201] + [409] * (THREADS - 1)
    assert Submission.objects.filter(user=user, status=SubmissionStatus.APPROVED).count() == 1
    assert sorted(PointsEntry.objects.filter(user=user).values_list("source", "points")) == [
        (f"quest:{quest.pk}:bonus", 5),
        (f"task:{task.pk}", 10),
    ]
    user.refresh_from_db()
    assert user.points == 15


@pytest.mark.django_db(transaction=True)
def test_racing_wrong_answers_never_exceed_the_limit():
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks and concurrent connections")
    user = UserFactory()
    task = make_quest(tasks=[quiz_task()]).tasks.get()

    statuses = _race(submit_url(task), user, {"answer": "wrong"})

    assert sorted(statuses) == [400] * 5 + [429] * (THREADS - 5)
    assert Submission.objects.filter(user=user, is_wrong_answer=True).count() == 5
