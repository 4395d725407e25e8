"""
Presence and vote coalescing across two real Daphne processes
(``python -m ibw.daphne``) and a Celery worker sharing one Redis.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import httpx
import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from live.models import Question, QuestionVote
from tests.factories import SessionFactory, UserFactory
from tests.faults.servers import LiveStack, LocalRedis, database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Short presence timings so a dead socket ages out in seconds here (the defaults give < 60 s).
FAST_PRESENCE = {"LIVE_PRESENCE_HEARTBEAT_SECONDS": "1", "LIVE_PRESENCE_TTL_SECONDS": "4"}


@pytest.fixture
def stacks():
    if connection.vendor != "postgresql":
        pytest.skip("the live servers share the test database only on PostgreSQL")
    redis = LocalRedis().start()
    first = LiveStack(database_url=database_url(), redis_url=redis.url, worker=True, **FAST_PRESENCE).start()
    second = LiveStack(database_url=database_url(), redis_url=redis.url, **FAST_PRESENCE).start()
    yield first, second
    first.stop()
    second.stop()
    redis.cleanup()


def _ws(stack: LiveStack, session_id: int, token: str) -> str:
    return f"{stack.base_url.replace('http', 'ws')}/ws/sessions/{session_id}/?token={token}"


async def _until(socket, predicate, timeout: float) -> tuple[dict, float]:
    """Read messages until one satisfies ``predicate``; return it and when it came."""
    deadline = time.monotonic() + timeout
    while True:
        message = await socket.receive(timeout=max(0.1, deadline - time.monotonic()))
        if message.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"socket ended: {message}")
        payload = json.loads(message.data)
        if predicate(payload):
            return payload, time.monotonic()


def test_presence_counts_sockets_on_both_processes_and_forgets_a_dead_one(stacks):
    first, second = stacks
    session = SessionFactory()
    here, there = (str(AccessToken.for_user(UserFactory())) for _ in range(2))

    async def scenario():
        async with aiohttp.ClientSession() as client:
            watcher = await client.ws_connect(_ws(first, session.pk, here))
            other = await client.ws_connect(_ws(second, session.pk, there))
            both, _ = await _until(watcher, lambda m: m == {"type": "presence", "count": 2}, timeout=20)
            killed_at = time.monotonic()
            second.kill()  # SIGKILL: its socket never says goodbye
            alone, at = await _until(watcher, lambda m: m == {"type": "presence", "count": 1}, timeout=60)
            assert not other.closed or second.processes == []
            return both, alone, at - killed_at

    try:
        both, alone, after = asyncio.run(scenario())
    except TimeoutError as exc:
        raise AssertionError(first.logs() + second.logs()) from exc

    assert both == {"type": "presence", "count": 2}
    assert alone == {"type": "presence", "count": 1}
    # TTL 4 s + heartbeat 1 s + the 1 s presence interval, with room for a busy machine.
    assert after < 15, first.logs()


def test_votes_through_both_processes_reach_every_socket_coalesced(stacks):
    first, second = stacks
    session = SessionFactory()
    question = Question.objects.create(session=session, author=UserFactory(), text="Hot take?")
    voters = [str(AccessToken.for_user(UserFactory())) for _ in range(40)]
    watchers = [str(AccessToken.for_user(UserFactory())) for _ in range(2)]
    url = f"/api/v1/conferences/{session.conference.slug}/sessions/{session.pk}/questions/{question.pk}/vote/"

    def vote(i: int) -> int:
        stack = (first, second)[i % 2]
        response = httpx.post(f"{stack.base_url}{url}", headers={"Authorization": f"Bearer {voters[i]}"}, timeout=30)
        return response.status_code

    async def scenario():
        async with aiohttp.ClientSession() as client:
            sockets = [
                await client.ws_connect(_ws(stack, session.pk, token))
                for stack, token in zip((first, second), watchers, strict=True)
            ]

            async def read(socket) -> list[tuple[int, float]]:
                arrivals: list[tuple[int, float]] = []
                while not arrivals or arrivals[-1][0] < 40:
                    message, at = await _until(socket, lambda m: m["type"] == "question", timeout=60)
                    arrivals.append((message["question"]["votes"], at))
                return arrivals

            # Read while the votes go in, so arrival times are the real ones.
            readers = [asyncio.create_task(read(socket)) for socket in sockets]
            loop = asyncio.get_running_loop()
            with ThreadPoolExecutor(8) as pool:
                statuses = await asyncio.gather(*(loop.run_in_executor(pool, vote, i) for i in range(40)))
            received = await asyncio.gather(*readers)
            return statuses, received

    try:
        statuses, received = asyncio.run(asyncio.wait_for(scenario(), timeout=120))
    except TimeoutError as exc:
        raise AssertionError(first.logs() + second.logs()) from exc

    assert statuses == [200] * 40
    assert QuestionVote.objects.filter(question=question).count() == 40
    for arrivals in received:
        counts = [votes for votes, _ in arrivals]
        assert counts[-1] == 40
        assert counts == sorted(counts)
        # Coalesced: fewer messages than votes, and never more than 2 in any second.
        assert len(arrivals) < 40
        times = [at for _, at in arrivals]
        assert all(sum(1 for t in times if start <= t < start + 1) <= 2 for start in times), times
