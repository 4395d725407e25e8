from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification
from tests.conftest import client_for
from tests.connections.factories import BlockFactory, ConnectionFactory
from tests.factories import UserFactory
from users.connections import DECLINE_COOLDOWN
from users.models import Connection, ConnectionStatus
from users.selectors import accepted_connection_count

pytestmark = pytest.mark.django_db

CONNECTIONS = "/api/v1/connections/"


def _accept(pk: int) -> str:
    return f"{CONNECTIONS}{pk}/accept/"


def _decline(pk: int) -> str:
    return f"{CONNECTIONS}{pk}/decline/"


def test_request_creates_pending_connection(user_api, user):
    other = UserFactory(first_name="Ada", last_name="Lovelace", company="Analytical")

    response = user_api.post(CONNECTIONS, {"to_user": other.pk, "message": "Loved your talk"}, format="json")

    assert response.status_code == 201
    body = response.json()
    connection = Connection.objects.get()
    assert body["id"] == connection.pk
    assert body["status"] == "pending"
    assert body["direction"] == "outgoing"
    assert body["message"] == "Loved your talk"
    assert body["met_in_person"] is False
    assert body["other"]["id"] == other.pk
    assert body["other"]["display_name"] == "Ada Lovelace"
    assert body["other"]["company"] == "Analytical"
    assert "telegram_id" not in body["other"]
    assert (connection.from_user_id, connection.to_user_id) == (user.pk, other.pk)


def test_request_notifies_recipient_after_commit(user_api, user, django_capture_on_commit_callbacks):
    other = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(CONNECTIONS, {"to_user": other.pk, "message": "Hi"}, format="json")

    notification = Notification.objects.get(user=other)
    assert notification.kind == "connection_request"
    assert notification.title == f"{user.get_display_name()} wants to connect"
    assert notification.body == "Hi"
    assert notification.data == {"connection": response.json()["id"], "user": user.pk}


def test_request_to_self_is_400(user_api, user):
    response = user_api.post(CONNECTIONS, {"to_user": user.pk}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": "You cannot connect with yourself.",
        "code": "VALIDATION_ERROR",
        "details": {"to_user": ["You cannot connect with yourself."]},
    }


def test_request_to_unknown_user_is_404(user_api):
    response = user_api.post(CONNECTIONS, {"to_user": 999_999}, format="json")

    assert response.status_code == 404
    assert response.json() == {"error": "No such user.", "code": "NOT_FOUND"}


def test_request_without_to_user_is_400(user_api):
    response = user_api.post(CONNECTIONS, {"message": "hi"}, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == {"to_user": ["This field is required."]}


def test_request_anonymous_is_401(api):
    response = api.post(CONNECTIONS, {"to_user": 1}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"


def test_request_twice_same_way_is_409(user_api, user):
    other = UserFactory()
    ConnectionFactory(from_user=user, to_user=other)

    response = user_api.post(CONNECTIONS, {"to_user": other.pk}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "ALREADY_CONNECTED"
    assert Connection.objects.count() == 1


@pytest.mark.parametrize("asked_by_me", [True, False])
def test_request_when_accepted_is_409(user_api, user, asked_by_me):
    other = UserFactory()
    pair = (user, other) if asked_by_me else (other, user)
    ConnectionFactory(from_user=pair[0], to_user=pair[1], status=ConnectionStatus.ACCEPTED)

    response = user_api.post(CONNECTIONS, {"to_user": other.pk}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "ALREADY_CONNECTED"


def test_request_back_accepts_theirs(user_api, user, django_capture_on_commit_callbacks):
    other = UserFactory()
    theirs = ConnectionFactory(from_user=other, to_user=user, message="Coffee?")

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(CONNECTIONS, {"to_user": other.pk, "message": "Sure"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["direction"], body["message"]) == (
        theirs.pk,
        "accepted",
        "incoming",
        "Coffee?",
    )
    assert Connection.objects.count() == 1
    assert Notification.objects.get(user=other).kind == "connection_accepted"
    assert accepted_connection_count(user) == 1
    assert accepted_connection_count(other) == 1


def test_request_to_someone_who_blocked_me_is_404(user_api, user):
    other = UserFactory()
    BlockFactory(blocker=other, blocked=user)

    response = user_api.post(CONNECTIONS, {"to_user": other.pk}, format="json")

    assert response.status_code == 404
    assert response.json() == {"error": "No such user.", "code": "NOT_FOUND"}
    assert not Connection.objects.exists()


def test_request_to_someone_i_blocked_is_404(user_api, user):
    other = UserFactory()
    BlockFactory(blocker=user, blocked=other)

    response = user_api.post(CONNECTIONS, {"to_user": other.pk}, format="json")

    assert response.status_code == 404


def test_request_after_decline_within_cooldown_is_409(user_api, user):
    other = UserFactory()
    ConnectionFactory(from_user=user, to_user=other, status=ConnectionStatus.DECLINED, responded_at=timezone.now())

    response = user_api.post(CONNECTIONS, {"to_user": other.pk}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "CONNECTION_DECLINED"


def test_request_after_decline_cooldown_is_pending_again(user_api, user):
    other = UserFactory()
    declined = ConnectionFactory(
        from_user=user,
        to_user=other,
        status=ConnectionStatus.DECLINED,
        responded_at=timezone.now() - DECLINE_COOLDOWN - timedelta(minutes=1),
    )

    response = user_api.post(CONNECTIONS, {"to_user": other.pk, "message": "Again"}, format="json")

    assert response.status_code == 201
    declined.refresh_from_db()
    assert (declined.status, declined.message, declined.responded_at) == ("pending", "Again", None)


def test_request_by_the_decliner_turns_into_their_request(user_api, user):
    other = UserFactory()
    declined = ConnectionFactory(
        from_user=other, to_user=user, status=ConnectionStatus.DECLINED, responded_at=timezone.now()
    )

    response = user_api.post(CONNECTIONS, {"to_user": other.pk}, format="json")

    assert response.status_code == 201
    assert response.json()["direction"] == "outgoing"
    declined.refresh_from_db()
    assert (declined.from_user_id, declined.to_user_id, declined.status) == (user.pk, other.pk, "pending")


def test_accept_by_recipient_is_200(user, django_capture_on_commit_callbacks):
    sender = UserFactory()
    connection = ConnectionFactory(from_user=sender, to_user=user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(_accept(connection.pk))

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert response.json()["direction"] == "incoming"
    connection.refresh_from_db()
    assert connection.status == "accepted"
    assert connection.responded_at is not None
    notification = Notification.objects.get(user=sender)
    assert (notification.kind, notification.title) == (
        "connection_accepted",
        f"{user.get_display_name()} accepted your request",
    )


def test_accept_twice_notifies_once(user, django_capture_on_commit_callbacks):
    sender = UserFactory()
    connection = ConnectionFactory(from_user=sender, to_user=user)
    api = client_for(user)

    with django_capture_on_commit_callbacks(execute=True):
        api.post(_accept(connection.pk))
        response = api.post(_accept(connection.pk))

    assert response.status_code == 200
    assert Notification.objects.filter(user=sender).count() == 1


@pytest.mark.parametrize("action", [_accept, _decline])
def test_accept_or_decline_by_sender_is_404(user, action):
    connection = ConnectionFactory(from_user=user)

    response = client_for(user).post(action(connection.pk))

    assert response.status_code == 404
    assert response.json() == {"error": "No such connection.", "code": "NOT_FOUND"}
    connection.refresh_from_db()
    assert connection.status == "pending"


@pytest.mark.parametrize("action", [_accept, _decline])
def test_accept_or_decline_by_outsider_is_404(action):
    connection = ConnectionFactory()

    response = client_for(UserFactory()).post(action(connection.pk))

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_decline_by_recipient_hides_it_from_both_lists(user):
    sender = UserFactory()
    connection = ConnectionFactory(from_user=sender, to_user=user)

    response = client_for(user).post(_decline(connection.pk))

    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert client_for(user).get(CONNECTIONS).json()["count"] == 0
    assert client_for(sender).get(CONNECTIONS).json()["count"] == 0


def test_decline_accepted_is_409(user):
    connection = ConnectionFactory(to_user=user, status=ConnectionStatus.ACCEPTED)

    response = client_for(user).post(_decline(connection.pk))

    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


@pytest.mark.parametrize("side", ["from_user", "to_user"])
def test_delete_by_either_side_is_204(side):
    connection = ConnectionFactory(status=ConnectionStatus.ACCEPTED)

    response = client_for(getattr(connection, side)).delete(f"{CONNECTIONS}{connection.pk}/")

    assert response.status_code == 204
    assert not Connection.objects.exists()


def test_delete_by_outsider_is_404():
    connection = ConnectionFactory(status=ConnectionStatus.ACCEPTED)

    response = client_for(UserFactory()).delete(f"{CONNECTIONS}{connection.pk}/")

    assert response.status_code == 404
    assert Connection.objects.count() == 1


def test_delete_declined_by_sender_keeps_the_cooldown(user):
    other = UserFactory()
    declined = ConnectionFactory(
        from_user=user, to_user=other, status=ConnectionStatus.DECLINED, responded_at=timezone.now()
    )
    api = client_for(user)

    assert api.delete(f"{CONNECTIONS}{declined.pk}/").status_code == 204
    response = api.post(CONNECTIONS, {"to_user": other.pk}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "CONNECTION_DECLINED"


def test_detail_for_outsider_is_404():
    connection = ConnectionFactory()

    assert client_for(connection.from_user).get(f"{CONNECTIONS}{connection.pk}/").status_code == 200
    response = client_for(UserFactory()).get(f"{CONNECTIONS}{connection.pk}/")

    assert response.status_code == 404


def test_list_shows_both_directions_newest_first(user_api, user):
    incoming = ConnectionFactory(to_user=user, message="in")
    outgoing = ConnectionFactory(from_user=user, message="out", status=ConnectionStatus.ACCEPTED)
    ConnectionFactory()  # someone else's

    body = user_api.get(CONNECTIONS).json()

    assert body["count"] == 2
    assert body["next"] is None and body["previous"] is None
    assert [(c["id"], c["direction"], c["status"], c["other"]["id"]) for c in body["results"]] == [
        (outgoing.pk, "outgoing", "accepted", outgoing.to_user_id),
        (incoming.pk, "incoming", "pending", incoming.from_user_id),
    ]
    assert set(body["results"][0]) >= {"id", "status", "direction", "other", "message", "created_at"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=pending", ["in-pending", "out-pending"]),
        ("status=accepted", ["in-accepted"]),
        ("direction=incoming", ["in-accepted", "in-pending"]),
        ("direction=outgoing", ["out-pending"]),
        ("status=pending&direction=incoming", ["in-pending"]),
    ],
)
def test_list_filters(user_api, user, query, expected):
    ConnectionFactory(to_user=user, message="in-pending")
    ConnectionFactory(from_user=user, message="out-pending")
    ConnectionFactory(to_user=user, message="in-accepted", status=ConnectionStatus.ACCEPTED)

    body = user_api.get(f"{CONNECTIONS}?{query}").json()

    assert sorted(c["message"] for c in body["results"]) == expected


def test_list_bad_filter_is_400(user_api):
    response = user_api.get(f"{CONNECTIONS}?status=declined")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "status" in response.json()["details"]


@pytest.mark.parametrize("count", [1, 5])
def test_list_query_count_is_constant(user_api, user, count, django_assert_max_num_queries):
    for i in range(count):
        ConnectionFactory(to_user=user) if i % 2 else ConnectionFactory(from_user=user)

    with django_assert_max_num_queries(3):
        response = user_api.get(CONNECTIONS)

    assert len(response.json()["results"]) == count


def test_admin_searches_connections_by_name():
    from django.test import Client

    from tests.factories import AdminUserFactory

    admin_user = AdminUserFactory(is_superuser=True)
    connection = ConnectionFactory(from_user__first_name="Grace", from_user__last_name="Hopper")
    ConnectionFactory()
    client = Client()
    client.force_login(admin_user)

    response = client.get("/admin/users/connection/", {"q": "Hopper"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [connection]
