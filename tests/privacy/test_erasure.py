"""DELETE /api/v1/users/me/: the person and their data go, others are told, the ledger stays."""

from __future__ import annotations

import threading

import pytest
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection
from rest_framework.test import APIClient

from bot.models import ProcessedUpdate
from conferences.models import PendingSessionChange
from events.models import RSVP
from notifications.models import Notification
from privacy.registry import HOLDINGS, Erase
from quests import leaderboard
from quests.models import PointsEntry, RewardClaim
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.privacy.world import build_world
from tests.telegram import signed_widget
from users.models import User

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me/"


def _rows_by_holding(world) -> dict[str, set[int]]:
    return {
        h.key: set(h.model._default_manager.filter(**{h.field: world.person}).values_list("pk", flat=True))
        for h in HOLDINGS
    }


@pytest.fixture
def world(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        built = build_world()
    leaderboard.rebuild()
    return built


def _erase(world, django_capture_on_commit_callbacks):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens['access']}")
    with django_capture_on_commit_callbacks(execute=True):
        return api.delete(ME)


def test_the_world_has_rows_in_every_registry_entry(world):
    assert [key for key, ids in _rows_by_holding(world).items() if not ids] == []


def test_erasure_deletes_their_rows_and_keeps_the_ledger_without_them(world, django_capture_on_commit_callbacks):
    before = _rows_by_holding(world)

    response = _erase(world, django_capture_on_commit_callbacks)

    assert (response.status_code, response.content) == (204, b"")
    assert not User.objects.filter(pk=world.person.pk).exists()
    deleted: dict[type, set[int]] = {}
    for holding in HOLDINGS:
        if holding.erase is Erase.DELETE:
            deleted.setdefault(holding.model, set()).update(before[holding.key])
    for holding in HOLDINGS:
        left = holding.model._default_manager.filter(pk__in=before[holding.key])
        if holding.erase is Erase.DELETE:
            assert not left.exists(), holding.key
        else:
            # A row also deleted as theirs (a meeting they cancelled) is not kept.
            left = left.exclude(pk__in=deleted.get(holding.model, set()))
            # Kept (ledger, claims, others' rows), with the link to the person cleared.
            assert left.count() == len(before[holding.key] - deleted.get(holding.model, set())), holding.key
            assert set(left.values_list(holding.field, flat=True)) <= {None}, holding.key
    ledger = PointsEntry.objects.filter(pk__in=before["quests.PointsEntry.user"])
    assert sorted(ledger.values_list("user", "points", "reason")) == [
        (None, 7, "bonus"),
        (None, 10, "Explore: Find the code"),
    ]
    assert RewardClaim.objects.filter(pk__in=before["quests.RewardClaim.user"], user=None).count() == 1
    # Held without a foreign key: what they sent the bot, and a pending schedule notice's list of people.
    assert ProcessedUpdate.objects.get(update_id=987654).payload == {}
    assert PendingSessionChange.objects.get().bookmarkers == [world.other.pk]


def test_erasure_tells_the_other_side_of_a_meeting_and_promotes_the_waitlist(world, django_capture_on_commit_callbacks):
    _erase(world, django_capture_on_commit_callbacks)

    told = Notification.objects.filter(user=world.other, kind="meeting_cancelled", data__meeting=world.meeting.pk)
    assert list(told.values_list("data__conference", flat=True)) == [world.conference.slug]
    assert RSVP.objects.get(event=world.full_event, user=world.waiting).status == "going"
    assert Notification.objects.filter(
        user=world.waiting, kind="waitlist_promoted", data__event=world.full_event.pk
    ).exists()
    world.full_event.refresh_from_db()
    assert (world.full_event.going_count, world.full_event.waitlist_count) == (1, 0)


def test_erasure_revokes_every_token_and_deletes_the_avatar_file(world, django_capture_on_commit_callbacks):
    assert default_storage.exists(world.avatar_name)
    assert default_storage.exists(world.upload_name)

    _erase(world, django_capture_on_commit_callbacks)

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens['access']}")
    me = api.get(ME)
    assert (me.status_code, me.json()["code"]) == (401, "INVALID_TOKEN")
    anonymous = APIClient()
    refresh = anonymous.post("/api/v1/auth/token/refresh/", {"refresh": world.tokens["refresh"]}, format="json")
    assert (refresh.status_code, refresh.json()["code"]) == (401, "INVALID_TOKEN")
    assert not default_storage.exists(world.avatar_name)
    assert not default_storage.exists(world.upload_name)  # a photo sent directly goes too
    # The other person's tokens still work.
    still = anonymous.post("/api/v1/auth/token/refresh/", {"refresh": world.other_tokens["refresh"]}, format="json")
    assert still.status_code == 200


def test_erasure_takes_them_off_every_leaderboard(world, django_capture_on_commit_callbacks):
    conference = world.conference.pk
    assert world.person.pk in [row.user_id for row in leaderboard.from_redis(None, limit=10).rows]
    day = leaderboard.day_from_redis(
        world.conference, leaderboard.local_day("Europe/Berlin", PointsEntry.objects.latest("pk").created_at), limit=10
    )
    assert world.person.pk in [row.user_id for row in day.rows]

    _erase(world, django_capture_on_commit_callbacks)

    for board in (
        leaderboard.from_redis(None, limit=10),
        leaderboard.from_redis(conference, limit=10),
        leaderboard.from_sql(None, limit=10),
        leaderboard.from_sql(conference, limit=10),
    ):
        assert [(row.user_id, row.points) for row in board.rows] == [(world.other.pk, 10)]
    after_day = leaderboard.day_from_redis(
        world.conference, leaderboard.local_day("Europe/Berlin", PointsEntry.objects.latest("pk").created_at), limit=10
    )
    assert [row.user_id for row in after_day.rows] == [world.other.pk]
    assert leaderboard.reconcile()["differing"] == 0


def test_erasure_leaves_other_people_as_they_were(world, django_capture_on_commit_callbacks):
    other = world.other
    other.refresh_from_db()
    kept = {"points": other.points, "notifications": Notification.objects.filter(user=other).count()}

    _erase(world, django_capture_on_commit_callbacks)

    other.refresh_from_db()
    assert other.points == kept["points"] == 10
    # Their inbox gained exactly the meeting_cancelled notice.
    assert Notification.objects.filter(user=other).count() == kept["notifications"] + 1
    assert client_for(other).get(ME).json()["display_name"] == "Olga Other"


def test_a_later_telegram_login_creates_a_new_empty_account(world, django_capture_on_commit_callbacks):
    telegram_id, old_id = world.person.telegram_id, world.person.pk
    _erase(world, django_capture_on_commit_callbacks)

    response = APIClient().post("/api/v1/auth/telegram/", signed_widget(telegram_id), format="json")

    assert response.status_code == 200
    fresh = User.objects.get(telegram_id=telegram_id)
    assert fresh.pk != old_id
    assert (fresh.first_name, fresh.company, fresh.points, fresh.avatar.name) == ("Ada", "", 0, "")
    export = client_for(fresh).get(ME + "export/").json()
    assert (export["attendance"], export["points"], export["notifications"]) == ([], [], [])


def test_erasure_without_credentials_is_401(db):
    response = APIClient().delete(ME)

    assert (response.status_code, response.json()["code"]) == (401, "NOT_AUTHENTICATED")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_erasures_erase_once_and_neither_fails():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    person, other = UserFactory(), UserFactory()
    clients = [client_for(person) for _ in range(2)]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def erase(client: APIClient) -> None:
        try:
            barrier.wait()
            statuses.append(client.delete(ME).status_code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=erase, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # The second request either queued behind the first's lock (204, nothing left to do)
    # or authenticated after the commit (401): never a 500.
    assert sorted(statuses) in ([204, 204], [204, 401])
    assert list(User.objects.values_list("pk", flat=True)) == [other.pk]
