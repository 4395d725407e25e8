from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.db import transaction

from ibw.embedded import EmbeddedRedis, free_port
from notifications.realtime import user_group
from quests import leaderboard
from quests.services import award_points
from tests.conftest import client_for
from tests.factories import ConferenceFactory, UserFactory
from tests.quests.conftest import SECRET_CODE, code_task, make_quest, submit_url

pytestmark = pytest.mark.django_db


def _award(user, points: int, *, quest=None, source: str | None = None) -> None:
    with transaction.atomic():
        award_points(user.pk, points=points, reason="test", source=source or f"test:{points}:{user.pk}", quest=quest)


def _rows(body: dict) -> list[tuple[int, int, int]]:
    return [(row["rank"], row["user"]["id"], row["points"]) for row in body["results"]]


@pytest.fixture
def ranked(django_capture_on_commit_callbacks):
    """Five users with 50, 40, 40, 30 and 0 points (a 1, 2, 2, 4 ranking), synced to Redis after commit."""
    users = UserFactory.create_batch(5)
    with django_capture_on_commit_callbacks(execute=True):
        for user, points in zip(users, [50, 40, 40, 30], strict=False):
            _award(user, points)
    leaderboard.rebuild()
    return users


def test_leaderboard_uses_standard_competition_ranking(ranked):
    a, b, c, d, nobody = ranked

    response = client_for(d).get("/api/v1/leaderboard/")

    assert response.status_code == 200
    assert response["X-Leaderboard-Source"] == "redis"
    body = response.json()
    assert _rows(body) == [(1, a.pk, 50), (2, b.pk, 40), (2, c.pk, 40), (4, d.pk, 30)]
    assert body["results"][0]["user"] == {"id": a.pk, "display_name": a.get_display_name(), "avatar_url": None}
    assert body["me"] == {"rank": 4, "points": 30}


def test_leaderboard_me_is_null_without_points(ranked):
    response = client_for(ranked[4]).get("/api/v1/leaderboard/?limit=2")

    body = response.json()
    assert _rows(body) == [(1, ranked[0].pk, 50), (2, ranked[1].pk, 40)]
    assert body["me"] is None


def test_leaderboard_sql_fallback_gives_the_same_answer(ranked):
    for limit in (1, 2, 3, 4, 10):
        for user in ranked:
            from_redis = leaderboard.from_redis(None, limit=limit, user_id=user.pk)
            from_sql = leaderboard.from_sql(None, limit=limit, user_id=user.pk)
            assert (from_sql.rows, from_sql.me) == (from_redis.rows, from_redis.me)
    assert leaderboard.from_sql(None, limit=1, user_id=ranked[2].pk).me == leaderboard.Standing(ranked[2].pk, 40, 2)


def test_leaderboard_answers_from_sql_when_redis_is_down(ranked, settings, tmp_path):
    server = EmbeddedRedis(free_port(), workdir=tmp_path).start()
    settings.LEADERBOARD_REDIS_URL = server.url
    leaderboard.rebuild()
    user_api = client_for(ranked[3])
    from_redis = user_api.get("/api/v1/leaderboard/")

    server.stop()
    from_sql = user_api.get("/api/v1/leaderboard/")

    assert (from_redis.status_code, from_redis["X-Leaderboard-Source"]) == (200, "redis")
    assert (from_sql.status_code, from_sql["X-Leaderboard-Source"]) == (200, "sql")
    assert from_sql.json() == from_redis.json()
    assert from_sql.json()["me"] == {"rank": 4, "points": 30}


def test_award_while_redis_is_down_still_commits_and_pushes_nothing_broken(
    user, settings, tmp_path, django_capture_on_commit_callbacks
):
    server = EmbeddedRedis(free_port(), workdir=tmp_path).start()
    settings.LEADERBOARD_REDIS_URL = server.url
    server.stop()
    task = make_quest().tasks.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(submit_url(task), {"answer": SECRET_CODE}, format="json")

    assert response.status_code == 201
    user.refresh_from_db()
    assert user.points == 10
    assert client_for(user).get("/api/v1/leaderboard/").json()["me"] == {"rank": 1, "points": 10}


def test_leaderboard_per_conference_counts_only_that_conferences_quests(django_capture_on_commit_callbacks):
    ibw, other = ConferenceFactory(slug="ibw"), ConferenceFactory(slug="other")
    at_ibw, at_other, anywhere = make_quest(conference=ibw), make_quest(conference=other), make_quest()
    alice, bob = UserFactory(), UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        _award(alice, 10, quest=at_ibw)
        _award(alice, 100, quest=anywhere)
        _award(bob, 30, quest=at_ibw)
        _award(bob, 5, quest=at_other)
    leaderboard.rebuild()
    api = client_for(alice)

    conference = api.get("/api/v1/leaderboard/?conference=ibw").json()
    overall = api.get("/api/v1/leaderboard/").json()

    assert _rows(conference) == [(1, bob.pk, 30), (2, alice.pk, 10)]
    assert conference["me"] == {"rank": 2, "points": 10}
    assert _rows(overall) == [(1, alice.pk, 110), (2, bob.pk, 35)]
    sql = leaderboard.from_sql(ibw.pk, limit=10, user_id=alice.pk)
    assert (sql.rows, sql.me) == (
        [leaderboard.Standing(bob.pk, 30, 1), leaderboard.Standing(alice.pk, 10, 2)],
        leaderboard.Standing(alice.pk, 10, 2),
    )


def test_leaderboard_reflects_an_award_right_after_commit(user, django_capture_on_commit_callbacks):
    leaderboard.rebuild()
    task = make_quest().tasks.get()

    with django_capture_on_commit_callbacks(execute=True):
        client_for(user).post(submit_url(task), {"answer": SECRET_CODE}, format="json")
    board = leaderboard.from_redis(None, limit=10, user_id=user.pk)

    assert board.rows == [leaderboard.Standing(user.pk, 10, 1)]


def test_leaderboard_without_a_built_redis_answers_from_sql_and_rebuilds(ranked):
    leaderboard.client().flushdb()

    first = client_for(ranked[0]).get("/api/v1/leaderboard/")
    second = client_for(ranked[0]).get("/api/v1/leaderboard/")

    assert first["X-Leaderboard-Source"] == "sql"
    assert second["X-Leaderboard-Source"] == "redis"
    assert first.json() == second.json()


def test_rebuild_leaderboard_command_restores_redis_from_the_ledger(ranked):
    leaderboard.client().delete(leaderboard.scope_key(None))
    stale_conference = leaderboard.scope_key(999999)
    leaderboard.client().zadd(stale_conference, {"000000000001": -5})

    call_command("rebuild_leaderboard")

    board = leaderboard.from_redis(None, limit=10)
    assert [(row.rank, row.points) for row in board.rows] == [(1, 50), (2, 40), (2, 40), (4, 30)]
    assert not leaderboard.client().exists(stale_conference)


def test_leaderboard_validates_limit_and_conference(user_api):
    assert user_api.get("/api/v1/leaderboard/?limit=101").status_code == 400
    assert user_api.get("/api/v1/leaderboard/?limit=0").status_code == 400
    assert user_api.get("/api/v1/leaderboard/?conference=nope").status_code == 404


def test_leaderboard_needs_a_login(api):
    assert api.get("/api/v1/leaderboard/").status_code == 401


def test_leaderboard_query_count_is_constant(
    user_api, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    leaderboard.rebuild()

    def add(n: int) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            for user in UserFactory.create_batch(n):
                _award(user, 10)

    add(1)
    with django_assert_max_num_queries(2):
        one = user_api.get("/api/v1/leaderboard/")
    add(4)
    with django_assert_max_num_queries(2):
        five = user_api.get("/api/v1/leaderboard/")

    assert (len(one.json()["results"]), len(five.json()["results"])) == (1, 5)


async def _receive(layer, channel: str, count: int) -> list[dict]:
    """Receive ``count`` messages, then fail if one more arrives within half a second."""
    # One event loop for all receives: channels_redis buffers per loop.
    received = [await layer.receive(channel) for _ in range(count)]
    try:
        extra = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
    except TimeoutError:
        return received
    raise AssertionError(f"unexpected extra message {extra}")


def test_award_pushes_the_new_standing_to_the_users_socket(user, django_capture_on_commit_callbacks):
    conference = ConferenceFactory(slug="ibw")
    leaderboard.rebuild()
    # Task points and the bonus land in one transaction: one push per board.
    task = make_quest(conference=conference, tasks=[code_task(points=12)], bonus_points=3).tasks.get()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(user.pk), channel)

    with django_capture_on_commit_callbacks(execute=True):
        client_for(user).post(submit_url(task), {"answer": SECRET_CODE}, format="json")
    received = async_to_sync(_receive)(layer, channel, 2)

    assert [message["payload"] for message in received] == [
        {"type": "leaderboard", "conference": None, "points": 15, "rank": 1},
        {"type": "leaderboard", "conference": "ibw", "points": 15, "rank": 1},
    ]
