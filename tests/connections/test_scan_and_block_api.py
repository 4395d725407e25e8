from __future__ import annotations

import pytest

from notifications.models import Notification
from tests.conftest import client_for
from tests.connections.factories import BlockFactory, ConnectionFactory
from tests.factories import AttendanceFactory, UserFactory
from users.models import Block, Connection, ConnectionStatus

pytestmark = pytest.mark.django_db

SCAN = "/api/v1/connections/scan/"


def _block(user_id: int) -> str:
    return f"/api/v1/users/{user_id}/block/"


def test_scan_connects_at_once_in_person(user_api, user, django_capture_on_commit_callbacks):
    badge = AttendanceFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(SCAN, {"badge_code": badge.badge_code}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["met_in_person"], body["direction"], body["other"]["id"]) == (
        "accepted",
        True,
        "outgoing",
        badge.user_id,
    )
    notification = Notification.objects.get(user=badge.user)
    assert notification.kind == "connection_accepted"
    assert notification.data == {"connection": body["id"], "user": user.pk}


def test_scan_twice_is_200_and_one_connection(user_api):
    badge = AttendanceFactory()
    user_api.post(SCAN, {"badge_code": badge.badge_code}, format="json")

    response = user_api.post(SCAN, {"badge_code": badge.badge_code.lower()}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert Connection.objects.count() == 1


def test_scan_by_the_other_side_afterwards_is_200(user_api, user):
    badge = AttendanceFactory()
    user_api.post(SCAN, {"badge_code": badge.badge_code}, format="json")
    mine = AttendanceFactory(user=user, conference=badge.conference)

    response = client_for(badge.user).post(SCAN, {"badge_code": mine.badge_code}, format="json")

    assert response.status_code == 200
    assert Connection.objects.count() == 1


@pytest.mark.parametrize("asked_by_me", [True, False])
def test_scan_accepts_a_pending_request(user_api, user, asked_by_me):
    badge = AttendanceFactory()
    pair = (user, badge.user) if asked_by_me else (badge.user, user)
    connection = ConnectionFactory(from_user=pair[0], to_user=pair[1])

    response = user_api.post(SCAN, {"badge_code": badge.badge_code}, format="json")

    assert response.status_code == 201
    connection.refresh_from_db()
    assert (connection.status, connection.met_in_person) == ("accepted", True)


def test_scan_marks_an_online_connection_met_in_person(user_api, user):
    badge = AttendanceFactory()
    connection = ConnectionFactory(from_user=badge.user, to_user=user, status=ConnectionStatus.ACCEPTED)

    response = user_api.post(SCAN, {"badge_code": badge.badge_code}, format="json")

    assert response.status_code == 200
    connection.refresh_from_db()
    assert connection.met_in_person is True


def test_scan_unknown_badge_is_404(user_api):
    response = user_api.post(SCAN, {"badge_code": "NOSUCHBADGE2"}, format="json")

    assert response.status_code == 404
    assert response.json() == {"error": "No attendee has this badge code.", "code": "NOT_FOUND"}


def test_scan_own_badge_is_400(user_api, user):
    badge = AttendanceFactory(user=user)

    response = user_api.post(SCAN, {"badge_code": badge.badge_code}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == {"badge_code": ["This is your own badge."]}


@pytest.mark.parametrize("i_blocked", [True, False])
def test_scan_blocked_either_way_is_404_like_unknown(user_api, user, i_blocked):
    badge = AttendanceFactory()
    if i_blocked:
        BlockFactory(blocker=user, blocked=badge.user)
    else:
        BlockFactory(blocker=badge.user, blocked=user)

    response = user_api.post(SCAN, {"badge_code": badge.badge_code}, format="json")

    assert response.status_code == 404
    assert response.json() == {"error": "No attendee has this badge code.", "code": "NOT_FOUND"}
    assert not Connection.objects.exists()


def test_scan_without_code_is_400(user_api):
    response = user_api.post(SCAN, {}, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == {"badge_code": ["This field is required."]}


def test_block_is_201_and_removes_connection(user_api, user):
    other = UserFactory()
    ConnectionFactory(from_user=other, to_user=user, status=ConnectionStatus.ACCEPTED)

    response = user_api.post(_block(other.pk))

    assert response.status_code == 201
    assert response.json()["blocked"] == other.pk
    assert Block.objects.filter(blocker=user, blocked=other).exists()
    assert not Connection.objects.exists()


def test_block_twice_is_200(user_api, user):
    other = UserFactory()
    user_api.post(_block(other.pk))

    response = user_api.post(_block(other.pk))

    assert response.status_code == 200
    assert Block.objects.count() == 1


def test_block_self_is_400(user_api, user):
    response = user_api.post(_block(user.pk))

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_block_unknown_is_404(user_api):
    response = user_api.post(_block(999_999))

    assert response.status_code == 404


def test_blocked_person_cannot_request_the_blocker(user):
    other = UserFactory()
    client_for(user).post(_block(other.pk))

    response = client_for(other).post("/api/v1/connections/", {"to_user": user.pk}, format="json")

    assert response.status_code == 404
    assert response.json() == {"error": "No such user.", "code": "NOT_FOUND"}


def test_unblock_is_204_and_allows_requests_again(user_api, user):
    other = UserFactory()
    BlockFactory(blocker=user, blocked=other)

    response = user_api.delete(_block(other.pk))

    assert response.status_code == 204
    assert not Block.objects.exists()
    assert user_api.post("/api/v1/connections/", {"to_user": other.pk}, format="json").status_code == 201


def test_unblock_does_not_lift_the_other_persons_block(user_api, user):
    other = UserFactory()
    BlockFactory(blocker=other, blocked=user)

    response = user_api.delete(_block(other.pk))

    assert response.status_code == 204
    assert Block.objects.filter(blocker=other, blocked=user).exists()


def test_block_anonymous_is_401(api, user):
    assert api.post(_block(user.pk)).status_code == 401


def test_block_hides_both_people_from_each_others_directory(user):
    badge = AttendanceFactory(user__directory_visible=True)
    AttendanceFactory(conference=badge.conference, user=user)
    user.directory_visible = True
    user.save()
    url = f"/api/v1/conferences/{badge.conference.slug}/attendees/"
    assert badge.user_id in [p["id"] for p in client_for(user).get(url).json()["results"]]

    client_for(user).post(_block(badge.user_id))

    assert badge.user_id not in [p["id"] for p in client_for(user).get(url).json()["results"]]
    assert user.pk not in [p["id"] for p in client_for(badge.user).get(url).json()["results"]]
