"""Daily sprints: the day's board in the conference's timezone, Redis or SQL, and the winners told once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection, connections, transaction

from ibw.embedded import free_port
from notifications.models import Notification
from quests import leaderboard
from quests.models import SprintWin
from quests.services import award_points, award_sprint_winners
from quests.tasks import award_sprint_winners_task
from tests.conftest import client_for
from tests.factories import ConferenceFactory, UserFactory
from tests.quests.conftest import make_quest

pytestmark = pytest.mark.django_db

KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14
ADAK = ZoneInfo("America/Adak")  # UTC-9 in September (HDT)
DAY1, DAY2 = date(2026, 9, 1), date(2026, 9, 2)


def sprint_conference(zone: ZoneInfo):
    conference = ConferenceFactory(timezone=zone.key, starts_on=DAY1, ends_on=DAY2)
    quest = make_quest(conference=conference)
    return conference, quest


def award_at(at: datetime, user, points: int, quest, capture) -> None:
    with time_machine.travel(at, tick=False), capture(execute=True), transaction.atomic():
        award_points(user.pk, points=points, reason="test", source=f"test:{at.isoformat()}:{points}", quest=quest)


def board(client, conference, day: date, **extra):
    return client.get("/api/v1/leaderboard/", {"conference": conference.slug, "day": day.isoformat(), **extra})


def rows(response) -> list[tuple[int, int, int]]:
    return [(row["rank"], row["user"]["id"], row["points"]) for row in response.json()["results"]]


def test_day_board_splits_at_local_midnight_far_from_utc(django_capture_on_commit_callbacks, user_api):
    conference, quest = sprint_conference(KIRITIMATI)
    late, early = UserFactory(), UserFactory()
    # 23:59:30 and 00:00:30 local on Kiritimati: the same UTC day (1 September, about 10:00 UTC).
    award_at(datetime(2026, 9, 1, 23, 59, 30, tzinfo=KIRITIMATI), late, 30, quest, django_capture_on_commit_callbacks)
    award_at(datetime(2026, 9, 2, 0, 0, 30, tzinfo=KIRITIMATI), early, 20, quest, django_capture_on_commit_callbacks)

    first, second = board(user_api, conference, DAY1), board(user_api, conference, DAY2)
    overall = user_api.get("/api/v1/leaderboard/", {"conference": conference.slug})

    assert first.status_code == second.status_code == 200
    assert first["X-Leaderboard-Source"] == "redis"
    assert rows(first) == [(1, late.pk, 30)]
    assert rows(second) == [(1, early.pk, 20)]
    assert rows(overall) == [(1, late.pk, 30), (2, early.pk, 20)]
    assert first.json()["me"] is None


def test_day_board_ranks_and_me_match_between_redis_and_sql(django_capture_on_commit_callbacks):
    conference, quest = sprint_conference(ADAK)
    users = UserFactory.create_batch(4)
    noon = datetime(2026, 9, 1, 12, 0, tzinfo=ADAK)
    for user, points in zip(users, [50, 40, 40, 30], strict=True):
        award_at(noon, user, points, quest, django_capture_on_commit_callbacks)
    award_at(datetime(2026, 9, 2, 12, 0, tzinfo=ADAK), users[3], 100, quest, django_capture_on_commit_callbacks)

    response = board(client_for(users[3]), conference, DAY1)

    assert rows(response) == [(1, users[0].pk, 50), (2, users[1].pk, 40), (2, users[2].pk, 40), (4, users[3].pk, 30)]
    assert response.json()["me"] == {"rank": 4, "points": 30}
    for user in users:
        for limit in (1, 3, 10):
            a = leaderboard.day_from_redis(conference, DAY1, limit=limit, user_id=user.pk)
            b = leaderboard.day_from_sql(conference, DAY1, limit=limit, user_id=user.pk)
            assert (a.rows, a.me) == (b.rows, b.me)


def test_day_board_reflects_a_new_award_of_that_day(django_capture_on_commit_callbacks, user_api):
    conference, quest = sprint_conference(KIRITIMATI)
    runner = UserFactory()
    morning = datetime(2026, 9, 1, 9, 0, tzinfo=KIRITIMATI)
    award_at(morning, runner, 10, quest, django_capture_on_commit_callbacks)
    assert rows(board(user_api, conference, DAY1)) == [(1, runner.pk, 10)]  # builds the day's board

    award_at(datetime(2026, 9, 1, 18, 0, tzinfo=KIRITIMATI), runner, 15, quest, django_capture_on_commit_callbacks)
    response = board(user_api, conference, DAY1)

    assert response["X-Leaderboard-Source"] == "redis"
    assert rows(response) == [(1, runner.pk, 25)]


def test_day_board_answers_from_sql_when_redis_is_unreachable(django_capture_on_commit_callbacks, settings):
    conference, quest = sprint_conference(KIRITIMATI)
    a, b = UserFactory(), UserFactory()
    noon = datetime(2026, 9, 1, 12, 0, tzinfo=KIRITIMATI)
    award_at(noon, a, 12, quest, django_capture_on_commit_callbacks)
    award_at(noon, b, 7, quest, django_capture_on_commit_callbacks)
    client = client_for(b)
    from_redis = board(client, conference, DAY1)

    # Nothing listens on this port: every Redis call fails at once.
    settings.LEADERBOARD_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    from_sql = board(client, conference, DAY1)

    assert from_redis["X-Leaderboard-Source"] == "redis"
    assert from_sql.status_code == 200
    assert from_sql["X-Leaderboard-Source"] == "sql"
    assert from_sql.json() == from_redis.json()
    assert rows(from_sql) == [(1, a.pk, 12), (2, b.pk, 7)]
    assert from_sql.json()["me"] == {"rank": 2, "points": 7}


def test_an_award_while_redis_is_unreachable_still_commits_and_shows(django_capture_on_commit_callbacks, settings):
    conference, quest = sprint_conference(KIRITIMATI)
    settings.LEADERBOARD_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    user = UserFactory()

    award_at(datetime(2026, 9, 1, 12, 0, tzinfo=KIRITIMATI), user, 9, quest, django_capture_on_commit_callbacks)

    assert rows(board(client_for(user), conference, DAY1)) == [(1, user.pk, 9)]


def test_day_needs_a_conference(user_api):
    response = user_api.get("/api/v1/leaderboard/", {"day": "2026-09-01"})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == {"day": ["A day's sprint needs `conference`."]}


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "01.09.2026"])
def test_day_must_be_a_date(user_api, day):
    conference = ConferenceFactory()

    response = user_api.get("/api/v1/leaderboard/", {"conference": conference.slug, "day": day})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "day" in response.json()["details"]


def test_day_of_an_unknown_conference_is_404(user_api):
    response = user_api.get("/api/v1/leaderboard/", {"conference": "no-such", "day": "2026-09-01"})

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("count", [1, 5])
def test_day_board_query_count_is_constant(count, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    conference, quest = sprint_conference(KIRITIMATI)
    noon = datetime(2026, 9, 1, 12, 0, tzinfo=KIRITIMATI)
    users = UserFactory.create_batch(count)
    for index, user in enumerate(users):
        award_at(noon, user, 10 + index, quest, django_capture_on_commit_callbacks)
    client = client_for(users[0])

    with django_assert_max_num_queries(8):
        first = board(client, conference, DAY1)  # builds the day's board
    with django_assert_max_num_queries(4):
        again = board(client, conference, DAY1)

    assert len(first.json()["results"]) == len(again.json()["results"]) == count


# --- winners ---------------------------------------------------------------------------------


@pytest.fixture
def adak_sprint(django_capture_on_commit_callbacks):
    conference, quest = sprint_conference(ADAK)
    users = UserFactory.create_batch(5)
    day1 = datetime(2026, 9, 1, 15, 0, tzinfo=ADAK)
    for user, points in zip(users[:4], [50, 40, 40, 30], strict=True):
        award_at(day1, user, points, quest, django_capture_on_commit_callbacks)
    award_at(datetime(2026, 9, 2, 8, 0, tzinfo=ADAK), users[4], 5, quest, django_capture_on_commit_callbacks)
    return conference, users


def sprint_notes() -> list[tuple[int, dict]]:
    return sorted((n.user_id, n.data) for n in Notification.objects.filter(kind="sprint_won"))


def test_sprint_winners_are_told_once_after_the_local_day_ends(adak_sprint, settings):
    conference, (a, b, c, d, e) = adak_sprint
    settings.SPRINT_WINNERS = 3
    midnight = datetime(2026, 9, 2, 0, 0, tzinfo=ADAK)  # 09:00 UTC

    with time_machine.travel(midnight.replace(minute=4), tick=False):
        award_sprint_winners_task.delay()
    assert sprint_notes() == []

    with time_machine.travel(midnight.replace(minute=6), tick=False):
        award_sprint_winners_task.delay()
        award_sprint_winners_task.delay()

    def data(rank: int, points: int) -> dict:
        return {"conference": conference.slug, "day": "2026-09-01", "rank": rank, "points": points}

    # Ranks 1, 2, 2: both people tied in second place are inside the top three; fourth is not.
    assert sprint_notes() == sorted([(a.pk, data(1, 50)), (b.pk, data(2, 40)), (c.pk, data(2, 40))])
    assert Notification.objects.get(user=a, kind="sprint_won").title.startswith("You placed #1 in ")
    assert sorted(SprintWin.objects.values_list("user_id", "day", "rank")) == sorted(
        [(a.pk, DAY1, 1), (b.pk, DAY1, 2), (c.pk, DAY1, 2)]
    )

    with time_machine.travel(datetime(2026, 9, 3, 0, 6, tzinfo=ADAK), tick=False):
        award_sprint_winners_task.delay()
    assert [user_id for user_id, payload in sprint_notes() if payload["day"] == "2026-09-02"] == [e.pk]
    assert SprintWin.objects.count() == 4


def test_sprint_winners_count_follows_the_setting(adak_sprint, settings):
    _, (a, *_rest) = adak_sprint
    settings.SPRINT_WINNERS = 1

    award_sprint_winners(now=datetime(2026, 9, 2, 1, 0, tzinfo=ADAK))

    assert [user_id for user_id, _ in sprint_notes()] == [a.pk]


def test_sprint_winners_is_a_low_queue_beat_job():
    entry = django_settings.CELERY_BEAT_SCHEDULE["quests-award-sprint-winners"]

    assert entry["task"] == award_sprint_winners_task.name == "quests.award_sprint_winners"
    assert django_settings.CELERY_TASK_ROUTES["quests.award_sprint_winners"] == {"queue": "low"}
    assert django_settings.CELERY_TASK_ROUTES["quests.reconcile_invites"] == {"queue": "low"}


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_tell_each_winner_once(django_capture_on_commit_callbacks):
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's concurrent connections")
    conference, quest = sprint_conference(ADAK)
    users = UserFactory.create_batch(3)
    for user, points in zip(users, [9, 8, 7], strict=True):
        award_at(datetime(2026, 9, 1, 15, 0, tzinfo=ADAK), user, points, quest, django_capture_on_commit_callbacks)
    after = datetime(2026, 9, 2, 0, 30, tzinfo=ADAK)
    barrier = threading.Barrier(4)

    def beat(_: int) -> int:
        try:
            barrier.wait(timeout=30)
            return award_sprint_winners(now=after)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(beat, range(4)))

    assert sum(created) == 3
    assert sorted(user_id for user_id, _ in sprint_notes()) == sorted(user.pk for user in users)
    assert SprintWin.objects.count() == 3


def test_a_tie_for_the_last_winning_place_includes_everyone_tied(django_capture_on_commit_callbacks, settings):
    conference, quest = sprint_conference(ADAK)
    settings.SPRINT_WINNERS = 2
    users = UserFactory.create_batch(6)
    for user, points in zip(users, [9, 5, 5, 5, 5, 1], strict=True):
        award_at(datetime(2026, 9, 1, 15, 0, tzinfo=ADAK), user, points, quest, django_capture_on_commit_callbacks)

    award_sprint_winners(now=datetime(2026, 9, 2, 0, 10, tzinfo=ADAK))

    assert sorted(SprintWin.objects.values_list("user_id", "rank", "points")) == sorted(
        [(users[0].pk, 1, 9)] + [(user.pk, 2, 5) for user in users[1:5]]
    )


def test_an_empty_day_has_no_winners(settings):
    ConferenceFactory(timezone=ADAK.key, starts_on=DAY1, ends_on=DAY2)

    assert award_sprint_winners(now=datetime(2026, 9, 3, 1, 0, tzinfo=ADAK)) == 0
    assert not SprintWin.objects.exists()
