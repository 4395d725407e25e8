"""The notifications WebSocket against the real Redis channel layer."""

from __future__ import annotations

import json
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connection, transaction

from ibw.asgi import application
from notifications.realtime import publish_to_user, user_group
from notifications.services import notify
from tests.factories import UserFactory
from users.services import issue_tokens


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """A channel layer of this test's own: a layer receives on one event loop at a time."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _token(user) -> str:
    return issue_tokens(user)["access"]


def _run(coro_fn, *args):
    return async_to_sync(coro_fn)(*args)


async def _connect(token: str | None):
    path = "/ws/notifications/" + (f"?token={token}" if token is not None else "")
    communicator = WebsocketCommunicator(application, path)
    # The handshake checks the token's user in the database: allow a busy machine more than the default 1 s.
    connected, _ = await communicator.connect(timeout=15)
    return communicator, connected


async def _group_size(group: str) -> int:
    layer = get_channel_layer()
    key = layer._group_key(group)
    async with layer.connection(layer.consistent_hash(group)) as conn:
        return await conn.zcard(key)


@pytest.mark.django_db
@pytest.mark.parametrize("token", [None, "", "not-a-jwt"])
def test_bad_or_missing_token_closes_4401(token):
    async def scenario():
        communicator, connected = await _connect(token)
        message = await communicator.receive_output(timeout=15)
        await communicator.disconnect()
        return connected, message

    connected, message = _run(scenario)

    assert message == {"type": "websocket.close", "code": 4401}


@pytest.mark.django_db
def test_token_of_inactive_user_closes_4401():
    token = _token(UserFactory(is_active=False))

    async def scenario():
        communicator, _ = await _connect(token)
        message = await communicator.receive_output(timeout=15)
        await communicator.disconnect()  # ends the consumer here, not in the loop's shutdown
        return message

    assert _run(scenario) == {"type": "websocket.close", "code": 4401}


@pytest.mark.django_db
def test_refresh_token_is_refused():
    user = UserFactory()
    refresh = issue_tokens(user)["refresh"]

    async def scenario():
        communicator, _ = await _connect(refresh)
        message = await communicator.receive_output(timeout=15)
        await communicator.disconnect()
        return message

    assert _run(scenario) == {"type": "websocket.close", "code": 4401}


@pytest.mark.django_db
def test_ping_gets_pong():
    token = _token(UserFactory())

    async def scenario():
        communicator, connected = await _connect(token)
        await communicator.send_json_to({"type": "ping"})
        json_pong = await communicator.receive_json_from(timeout=15)
        await communicator.send_to(text_data="ping")
        text_pong = await communicator.receive_json_from(timeout=15)
        await communicator.send_to(text_data="{not json")
        quiet = await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()
        return connected, json_pong, text_pong, quiet

    assert _run(scenario) == (True, {"type": "pong"}, {"type": "pong"}, True)


@pytest.mark.django_db(transaction=True)
def test_notification_committed_in_another_thread_arrives():
    user = UserFactory()
    other = UserFactory()
    token = _token(user)

    def create_elsewhere():
        notify(user, kind="submission_reviewed", title="Accepted", data={"x": 1}, channels=["in_app"])
        notify(other, kind="submission_reviewed", title="not yours", channels=["in_app"])
        connection.close()

    async def scenario():
        communicator, _ = await _connect(token)
        thread = threading.Thread(target=create_elsewhere)
        thread.start()
        message = await communicator.receive_json_from(timeout=15)
        nothing_else = await communicator.receive_nothing(timeout=0.3)
        thread.join()
        await communicator.disconnect()
        return message, nothing_else

    message, nothing_else = _run(scenario)

    stored = user.notifications.get()
    assert message == {
        "type": "notification",
        "notification": {
            "id": stored.pk,
            "kind": "submission_reviewed",
            "title": "Accepted",
            "body": "",
            "data": {"x": 1},
            "created_at": stored.created_at.isoformat().replace("+00:00", "Z"),
            "read_at": None,
        },
    }
    assert nothing_else is True


@pytest.mark.django_db(transaction=True)
def test_nothing_arrives_from_a_rolled_back_transaction():
    user = UserFactory()
    token = _token(user)

    def roll_back():
        try:
            with transaction.atomic():
                notify(user, kind="session_reminder", title="never", channels=["in_app"])
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        connection.close()

    async def scenario():
        communicator, _ = await _connect(token)
        thread = threading.Thread(target=roll_back)
        thread.start()
        thread.join()
        nothing = await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()
        return nothing

    assert _run(scenario) is True


@pytest.mark.django_db(transaction=True)
def test_leaderboard_update_arrives():
    user = UserFactory()
    token = _token(user)
    payload = {"type": "leaderboard", "conference": "ibw-2026", "points": 40, "rank": 3}

    def publish():
        with transaction.atomic():
            publish_to_user(user.pk, payload)
        connection.close()

    async def scenario():
        communicator, _ = await _connect(token)
        thread = threading.Thread(target=publish)
        thread.start()
        message = await communicator.receive_json_from(timeout=15)
        thread.join()
        await communicator.disconnect()
        return message

    assert _run(scenario) == payload


@pytest.mark.django_db
def test_disconnect_leaves_no_group_membership():
    user = UserFactory()
    group = user_group(user.pk)
    token = _token(user)

    async def scenario():
        first, _ = await _connect(token)
        second, _ = await _connect(token)
        while_connected = await _group_size(group)
        await first.disconnect()
        after_one = await _group_size(group)
        await second.disconnect()
        after_both = await _group_size(group)
        return while_connected, after_one, after_both

    assert _run(scenario) == (2, 1, 0)


@pytest.mark.django_db
def test_each_socket_of_a_user_gets_the_push():
    user = UserFactory()
    token = _token(user)

    async def scenario():
        phone, _ = await _connect(token)
        laptop, _ = await _connect(token)
        layer = get_channel_layer()
        await layer.group_send(user_group(user.pk), {"type": "push", "payload": {"type": "leaderboard", "rank": 1}})
        got = [await phone.receive_from(timeout=15), await laptop.receive_from(timeout=15)]
        await phone.disconnect()
        await laptop.disconnect()
        return got

    assert [json.loads(m) for m in _run(scenario)] == [{"type": "leaderboard", "rank": 1}] * 2
