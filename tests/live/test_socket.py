"""The live-session socket (``/ws/sessions/{id}/``) against the real Redis channel layer and PostgreSQL."""

from __future__ import annotations

import json
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from conferences.models import SessionSpeaker
from ibw.asgi import application
from live import realtime, services
from live.models import Question
from tests.factories import SessionFactory, SpeakerFactory, UserFactory
from users.services import issue_tokens

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """A channel layer of this test's own: a layer receives on one event loop at a time."""
    channel_layers.backends.clear()
    realtime._async_clients.clear()
    yield
    channel_layers.backends.clear()
    realtime._async_clients.clear()


async def _connect(session_id: int, token: str | None) -> WebsocketCommunicator:
    path = f"/ws/sessions/{session_id}/" + (f"?token={token}" if token is not None else "")
    communicator = WebsocketCommunicator(application, path)
    await communicator.connect(timeout=15)
    return communicator


async def _next(communicator: WebsocketCommunicator, kind: str, timeout: float = 10) -> dict:
    """The next message of type ``kind`` (others, such as presence counts, are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await communicator.receive_from(timeout=max(0.1, deadline - time.monotonic())))
        if message["type"] == kind:
            return message


def _token(user) -> str:
    return issue_tokens(user)["access"]


@pytest.mark.parametrize("token", [None, "", "not-a-jwt"])
def test_bad_or_missing_token_closes_4401(token):
    session = SessionFactory()

    async def scenario():
        communicator = await _connect(session.pk, token)
        message = await communicator.receive_output(timeout=15)
        await communicator.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": 4401}


def test_unknown_session_closes_4404():
    token = _token(UserFactory())

    async def scenario():
        communicator = await _connect(999_999, token)
        message = await communicator.receive_output(timeout=15)
        await communicator.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": 4404}


def test_new_question_reaches_the_session_socket_with_its_public_fields():
    session = SessionFactory()
    author = UserFactory()
    token = _token(UserFactory())

    async def scenario():
        communicator = await _connect(session.pk, token)
        await sync_to_async(services.ask_question)(session, author=author, text="Live?")
        message = await _next(communicator, "question")
        await communicator.disconnect()
        return message

    message = async_to_sync(scenario)()

    question = Question.objects.get()
    assert message["question"]["id"] == question.pk
    assert message["question"]["text"] == "Live?"
    assert message["question"]["author"]["id"] == author.pk
    assert (message["question"]["votes"], message["question"]["status"], message["question"]["pinned"]) == (
        0,
        "open",
        False,
    )


def test_hidden_question_reaches_moderators_whole_and_others_redacted():
    session = SessionFactory()
    moderator = UserFactory()
    speaker = SpeakerFactory(conference=session.conference, user=moderator)
    SessionSpeaker.objects.create(session=session, speaker=speaker)
    question = Question.objects.create(session=session, author=UserFactory(), text="rude words")
    audience_token, moderator_token = _token(UserFactory()), _token(moderator)

    async def scenario():
        audience = await _connect(session.pk, audience_token)
        moderating = await _connect(session.pk, moderator_token)
        await sync_to_async(services.moderate_question)(question, action="hide", by=moderator)
        seen = await _next(audience, "question"), await _next(moderating, "question")
        await audience.disconnect()
        await moderating.disconnect()
        return seen

    audience_sees, moderator_sees = async_to_sync(scenario)()

    assert audience_sees == {"type": "question", "question": {"id": question.pk, "status": "hidden"}}
    assert moderator_sees["question"]["text"] == "rude words"
    assert moderator_sees["question"]["status"] == "hidden"


def test_votes_push_the_new_count():
    session = SessionFactory()
    question = Question.objects.create(session=session, author=UserFactory(), text="q")
    voters = [UserFactory() for _ in range(3)]
    token = _token(UserFactory())

    async def scenario():
        communicator = await _connect(session.pk, token)
        for voter in voters:
            await sync_to_async(services.vote_question)(question, user=voter)
        counts = []
        while not counts or counts[-1] < 3:
            counts.append((await _next(communicator, "question"))["question"]["votes"])
        await communicator.disconnect()
        return counts

    counts = async_to_sync(scenario)()

    assert counts[-1] == 3
    assert counts == sorted(counts)


def test_presence_counts_people_not_sockets_and_drops_a_closed_socket():
    session = SessionFactory()
    alice, bob = (_token(UserFactory()) for _ in range(2))

    async def wait_count(communicator, expected):
        while True:
            message = await _next(communicator, "presence")
            if message["count"] == expected:
                return message["count"]

    async def scenario():
        first = await _connect(session.pk, alice)
        await _connect(session.pk, alice)  # a second tab of the same person
        third = await _connect(session.pk, bob)
        both = await wait_count(first, 2)
        await third.disconnect()
        after = await wait_count(first, 1)
        await first.disconnect()
        return both, after

    assert async_to_sync(scenario)() == (2, 1)


def test_default_presence_timing_forgets_a_dead_socket_within_60_seconds(settings):
    worst = (
        settings.LIVE_PRESENCE_TTL_SECONDS
        + settings.LIVE_PRESENCE_HEARTBEAT_SECONDS
        + settings.LIVE_PRESENCE_INTERVAL_SECONDS
    )

    assert worst < 60
    assert settings.LIVE_VOTE_INTERVAL_SECONDS >= 0.5  # at most 2 vote updates a second
