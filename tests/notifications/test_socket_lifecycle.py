"""
The notification socket's lifecycle against a real Daphne process
(``python -m ibw.daphne``, what production runs): a deploy's SIGTERM drains
it, and a socket outlives neither its process nor its access token.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from datetime import timedelta

import aiohttp
import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from tests.factories import UserFactory
from tests.faults.servers import LiveStack, LocalRedis, database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DELAY, GRACE = 2.0, 8.0


@pytest.fixture
def stack():
    if connection.vendor != "postgresql":
        pytest.skip("the live server shares the test database only on PostgreSQL")
    redis = LocalRedis().start()
    running = LiveStack(
        database_url=database_url(),
        redis_url=redis.url,
        WS_DRAIN_DELAY_SECONDS=str(DELAY),
        WS_DRAIN_GRACE_SECONDS=str(GRACE),
    ).start()
    yield running
    running.stop()
    redis.cleanup()


def _ws_url(stack: LiveStack, token: str) -> str:
    return f"{stack.base_url.replace('http', 'ws')}/ws/notifications/?token={token}"


async def _open(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    socket = await session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=10))
    await socket.send_str("ping")
    pong = await socket.receive_json(timeout=10)
    assert pong == {"type": "pong"}
    return socket


def test_sigterm_marks_not_ready_closes_sockets_1001_and_exits_within_grace(stack):
    token = str(AccessToken.for_user(UserFactory()))
    daphne: subprocess.Popen = stack.processes[0]

    async def scenario():
        async with aiohttp.ClientSession() as session:
            sockets = [await _open(session, _ws_url(stack, token)) for _ in range(3)]
            before = await session.get(f"{stack.base_url}/ready")
            ready_before = (before.status, await before.json())
            started = time.monotonic()
            daphne.send_signal(signal.SIGTERM)
            await asyncio.sleep(DELAY / 3)
            # Draining: not ready, and a newcomer is sent elsewhere at once.
            ready = await session.get(f"{stack.base_url}/ready")
            ready_during = (ready.status, await ready.json())
            late = await session.ws_connect(_ws_url(stack, token))
            late_message = await late.receive(timeout=10)
            still_open = [not s.closed for s in sockets]
            closes = [await s.receive(timeout=GRACE) for s in sockets]
            closed_after = time.monotonic() - started
            return ready_before, ready_during, late_message, still_open, closes, closed_after, started

    ready_before, ready_during, late_message, still_open, closes, closed_after, started = asyncio.run(scenario())
    exit_code = daphne.wait(timeout=GRACE + 5)
    exited_after = time.monotonic() - started

    assert ready_before[0] == 200, (ready_before, stack.logs())
    assert ready_during == (503, {"status": "draining", "checks": {"process": "draining"}})
    assert (late_message.type, late_message.data) == (aiohttp.WSMsgType.CLOSE, 1001)
    assert still_open == [True, True, True]  # the balancer gets DELAY seconds to notice first
    assert [(m.type, m.data) for m in closes] == [(aiohttp.WSMsgType.CLOSE, 1001)] * 3
    assert DELAY <= closed_after < GRACE
    assert exit_code == 0
    assert exited_after < GRACE + 3


def test_socket_closes_4401_when_its_access_token_expires(stack):
    token = AccessToken.for_user(UserFactory())
    token.set_exp(lifetime=timedelta(seconds=3))

    async def scenario():
        async with aiohttp.ClientSession() as session:
            socket = await _open(session, _ws_url(stack, str(token)))
            opened = time.monotonic()
            message = await socket.receive(timeout=15)
            return message, time.monotonic() - opened

    message, lived = asyncio.run(scenario())

    assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 4401)
    assert 1 < lived < 6
