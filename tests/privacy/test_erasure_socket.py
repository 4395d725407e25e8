"""Sockets and erasure: votes leave the live counts (pushed), the person's own sockets close."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from ibw.asgi import application
from live import services
from live.models import Question
from privacy.services import erase_user
from tests.factories import SessionFactory, UserFactory
from tests.live.test_socket import _connect, _fresh_channel_layer, _next, _token  # noqa: F401 (the fixture is autouse)

pytestmark = pytest.mark.django_db(transaction=True)


def test_erasure_pushes_the_lowered_vote_count_to_the_session():
    session = SessionFactory()
    question = Question.objects.create(session=session, author=UserFactory(), text="Keep this?")
    leaving, staying = UserFactory(), UserFactory()
    services.vote_question(question, user=leaving)
    services.vote_question(question, user=staying)
    token = _token(UserFactory())

    async def scenario() -> int:
        communicator = await _connect(session.pk, token)
        await sync_to_async(erase_user)(leaving)
        votes = (await _next(communicator, "question"))["question"]["votes"]
        while votes != 1:
            votes = (await _next(communicator, "question"))["question"]["votes"]
        await communicator.disconnect()
        return votes

    assert async_to_sync(scenario)() == 1
    assert Question.objects.get(pk=question.pk).vote_rows.count() == 1


def test_erasure_closes_their_open_notification_socket_and_refuses_a_new_one():
    person = UserFactory()
    token = _token(person)

    async def scenario() -> tuple[dict, bool, int | None]:
        communicator = WebsocketCommunicator(application, f"/ws/notifications/?token={token}")
        connected, _ = await communicator.connect(timeout=15)
        await sync_to_async(erase_user)(person)
        closed = await communicator.receive_output(timeout=10)
        again = WebsocketCommunicator(application, f"/ws/notifications/?token={token}")
        await again.connect(timeout=15)
        refused = await again.receive_output(timeout=10)
        return closed, connected, refused.get("code")

    closed, connected, refused_code = async_to_sync(scenario)()

    assert connected is True
    assert (closed["type"], closed["code"]) == ("websocket.close", 4401)
    assert refused_code == 4401
