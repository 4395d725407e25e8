"""The beat's leaderboard check: Redis re-synced from the ledger when it lost or missed an update."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import transaction

from quests import leaderboard
from quests.services import award_points
from quests.tasks import resync_leaderboards_task
from tests.factories import ConferenceFactory, UserFactory
from tests.quests.conftest import make_quest

pytestmark = pytest.mark.django_db


def _award(user, points: int, *, quest=None) -> None:
    with transaction.atomic():
        award_points(user.pk, points=points, reason="test", source=f"test:{points}:{user.pk}", quest=quest)


@pytest.fixture
def boards(django_capture_on_commit_callbacks):
    ibw = ConferenceFactory(slug="ibw")
    quest = make_quest(conference=ibw)
    alice, bob = UserFactory(), UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        _award(alice, 30, quest=quest)
        _award(bob, 10)
    leaderboard.rebuild()
    return ibw, alice, bob


def _top(conference_id):
    board = leaderboard.from_redis(conference_id, limit=10)
    return [(s.user_id, s.points) for s in board.rows]


def test_boards_that_agree_with_the_ledger_are_left_alone(boards):
    assert resync_leaderboards_task.delay().get() == {"checked": 2, "differing": 0, "rebuilt": False}


def test_a_missed_update_is_found_and_the_boards_rebuilt(boards):
    ibw, alice, bob = boards
    # An award whose sync never reached Redis (Redis was down after the commit).
    with transaction.atomic():
        award_points(bob.pk, points=50, reason="test", source="missed", quest=make_quest(conference=ibw))
    assert _top(None) == [(alice.pk, 30), (bob.pk, 10)]

    result = resync_leaderboards_task.delay().get()

    assert result == {"checked": 2, "differing": 2, "rebuilt": True}
    assert _top(None) == [(bob.pk, 60), (alice.pk, 30)]
    assert _top(ibw.pk) == [(bob.pk, 50), (alice.pk, 30)]
    # Idempotent: run again, nothing differs.
    assert resync_leaderboards_task.delay().get()["rebuilt"] is False


def test_a_flushed_redis_is_rebuilt(boards):
    ibw, alice, bob = boards
    leaderboard.client().flushdb()

    assert resync_leaderboards_task.delay().get()["rebuilt"] is True

    assert _top(None) == [(alice.pk, 30), (bob.pk, 10)]
    assert _top(ibw.pk) == [(alice.pk, 30)]


def test_points_moved_between_people_with_the_same_total_are_found(boards):
    ibw, alice, bob = boards
    # Lost updates that keep the count and the total: 5 points shown on the wrong person.
    leaderboard.client().zadd(leaderboard.scope_key(None), {f"{alice.pk:012d}": -25, f"{bob.pk:012d}": -15})

    assert resync_leaderboards_task.delay().get() == {"checked": 2, "differing": 1, "rebuilt": True}

    assert _top(None) == [(alice.pk, 30), (bob.pk, 10)]


def test_a_stray_member_is_removed(boards):
    ibw, alice, bob = boards
    leaderboard.client().zadd(leaderboard.scope_key(ibw.pk), {f"{bob.pk:012d}": -99})

    assert resync_leaderboards_task.delay().get()["differing"] == 1

    assert _top(ibw.pk) == [(alice.pk, 30)]


def test_resync_runs_on_the_low_queue_every_ten_minutes():
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "quests.resync_leaderboards")
    assert entry["schedule"] == 600.0
    assert settings.CELERY_TASK_ROUTES["quests.resync_leaderboards"] == {"queue": "low"}
