"""An erased person's votes leave the live session's counts, pushed like any withdrawn vote."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async

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
