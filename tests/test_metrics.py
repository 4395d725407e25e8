"""
/metrics (Prometheus) and the JSON access log: each figure is read the way
Prometheus reads it, from the exposition text of a real request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import os
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import httpx
import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families

from broadcasts.models import Broadcast
from ibw.logs import build_logging
from integrations import telegram
from tests.factories import ConferenceFactory
from tests.faults.servers import database_url
from tests.topology import Topology
from users.services import issue_tokens

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token-0123456789"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(api, token: str = TOKEN) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` from a /metrics answer."""
    response = api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def conference():
    return ConferenceFactory()


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_is_a_404_without_the_bearer_token(api, settings):
    settings.METRICS_TOKEN = ""
    unset = api.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    settings.METRICS_TOKEN = TOKEN
    missing = api.get("/metrics")
    wrong = api.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    bare = api.get("/metrics", HTTP_AUTHORIZATION=TOKEN)

    for response in (unset, missing, wrong, bare):
        assert response.status_code == 404
        assert response.json() == {"error": "Not found.", "code": "NOT_FOUND"}


def test_request_latency_is_labelled_by_route_not_path(api, metrics_token, conference):
    before = scrape(api)
    for _ in range(3):
        assert api.get(f"/api/v1/conferences/{conference.slug}/").status_code == 200
    assert api.get("/api/v1/conferences/no-such-conference/").status_code == 404
    after = scrape(api)

    route = "/api/v1/conferences/<slug:slug>/"
    count = "ibw_http_request_duration_seconds_count"
    assert (
        value(after, count, method="GET", route=route, status="200")
        - value(before, count, method="GET", route=route, status="200")
        == 3
    )
    assert (
        value(after, count, method="GET", route=route, status="404")
        - value(before, count, method="GET", route=route, status="404")
        == 1
    )
    assert not any(conference.slug in dict(labels).get("route", "") for _, labels in after)


def test_celery_queue_depth_is_read_from_redis_at_scrape_time(api, metrics_token):
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    client.delete("critical", "default", "low")
    client.lpush("critical", "a", "b", "c")
    client.lpush("low", "d")
    try:
        samples = scrape(api)
    finally:
        client.delete("critical", "default", "low")

    assert value(samples, "ibw_celery_queue_length", queue="critical") == 3
    assert value(samples, "ibw_celery_queue_length", queue="default") == 0
    assert value(samples, "ibw_celery_queue_length", queue="low") == 1


def test_broadcast_progress(api, metrics_token):
    sending = Broadcast.objects.create(title="Doors open", status="sending", total=10, sent=4, failed=1)
    Broadcast.objects.create(title="Done", status="completed", total=5, sent=5)

    samples = scrape(api)

    assert value(samples, "ibw_broadcast_recipients", broadcast=str(sending.id), state="total") == 10
    assert value(samples, "ibw_broadcast_recipients", broadcast=str(sending.id), state="sent") == 4
    assert value(samples, "ibw_broadcast_recipients", broadcast=str(sending.id), state="failed") == 1
    assert value(samples, "ibw_broadcasts", status="sending") == 1
    assert value(samples, "ibw_broadcasts", status="completed") == 1


def test_telegram_sends_are_counted_by_outcome(api, metrics_token, fake_telegram):
    before = scrape(api)
    telegram.send_message(1001, "hello")
    fake_telegram.fail("sendMessage", 429, retry_after=3)
    with pytest.raises(telegram.TelegramRetryAfter):
        telegram.send_message(1001, "again")
    fake_telegram.blocked_chats.add(1002)
    with pytest.raises(telegram.TelegramForbidden):
        telegram.send_message(1002, "blocked")
    fake_telegram.fail("sendMessage", 400, "Bad Request: chat not found")
    with pytest.raises(telegram.TelegramBadRequest):
        telegram.send_message(1003, "nobody")
    after = scrape(api)

    name = "ibw_telegram_sends_total"
    deltas = {
        o: value(after, name, outcome=o) - value(before, name, outcome=o) for o in ("sent", "429", "403", "error")
    }
    assert deltas == {"sent": 1, "429": 1, "403": 1, "error": 1}


@pytest.mark.django_db(transaction=True)
def test_open_websockets_gauge_follows_connect_and_disconnect(api, metrics_token, user):
    from ibw.asgi import application

    channel_layers.backends.clear()
    token = issue_tokens(user)["access"]
    gauge = "ibw_websocket_connections"
    base = value(scrape(api), gauge, path="/ws/notifications/")

    async def scenario() -> float:
        sockets = []
        for _ in range(2):
            communicator = WebsocketCommunicator(application, f"/ws/notifications/?token={token}")
            connected, _ = await communicator.connect(timeout=15)
            assert connected
            sockets.append(communicator)
        rejected = WebsocketCommunicator(application, "/ws/notifications/?token=garbage")
        await rejected.connect(timeout=15)
        await rejected.receive_output(timeout=15)
        while_open = await sync_to_async(lambda: value(scrape(api), gauge, path="/ws/notifications/"))()
        for communicator in sockets:
            await communicator.disconnect()
        return while_open

    while_open = async_to_sync(scenario)()
    after_close = value(scrape(api), gauge, path="/ws/notifications/")
    channel_layers.backends.clear()

    assert while_open - base == 2  # the rejected socket is not counted
    assert after_close == base


def test_one_access_log_line_per_request(api, caplog, conference):
    caplog.set_level(logging.INFO, logger="ibw.access")

    response = api.get(f"/api/v1/conferences/{conference.slug}/", HTTP_X_REQUEST_ID="req-abc-123")

    lines = [r.msg for r in caplog.records if r.name == "ibw.access"]
    assert response.status_code == 200
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "request"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/conferences/<slug:slug>/"
    assert line["status"] == 200
    assert line["request_id"] == "req-abc-123"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_access_log_renders_as_one_json_object(api, capsys, settings):
    """The configured formatter turns the line into JSON with every field."""
    logging.config.dictConfig(build_logging(level="INFO", fmt="json"))
    try:
        api.get("/health", HTTP_X_REQUEST_ID="req-json-1")
    finally:
        logging.config.dictConfig(settings.LOGGING)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"ibw.access"' in line]

    assert len(lines) == 1
    assert {k: lines[0][k] for k in ("event", "method", "route", "status", "request_id")} == {
        "event": "request",
        "method": "GET",
        "route": "/health",
        "status": 200,
        "request_id": "req-json-1",
    }
    assert "duration_ms" in lines[0]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_one_scrape_adds_up_every_gunicorn_worker_and_daphne(user):
    env = {
        **{k: v for k, v in os.environ.items() if k != "CELERY_TASK_ALWAYS_EAGER"},
        "DATABASE_URL": database_url(),
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "METRICS_TOKEN": TOKEN,
    }
    access = issue_tokens(user)["access"]
    requests = 200
    with Topology(env=env, web_workers=2, proxy=False) as stack:
        with httpx.Client(base_url=stack.direct_web_url, timeout=10) as client:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            before = parse(client.get("/metrics", headers=auth).text)

            def one(_: int) -> int:
                # A new connection each time, 8 at once, so both workers take some.
                return httpx.get(f"{stack.direct_web_url}/health", headers={"Connection": "close"}).status_code

            with ThreadPoolExecutor(8) as pool:
                assert list(pool.map(one, range(requests))) == [200] * requests

            async def with_open_sockets() -> str:
                async with aiohttp.ClientSession() as session:
                    sockets = [
                        await session.ws_connect(f"{stack.ws_url}/ws/notifications/?token={access}") for _ in range(3)
                    ]
                    async with httpx.AsyncClient(base_url=stack.direct_web_url, timeout=10) as http:
                        text = (await http.get("/metrics", headers=auth)).text
                    for ws in sockets:
                        await ws.close()
                    return text

            while_open = parse(asyncio.run(with_open_sockets()))
            scraped = client.get("/metrics", headers=auth)
            denied = client.get("/metrics")
        files = sorted(p.name for p in stack.metrics_dir.glob("histogram_*.db"))
        pids = {name.rsplit("_", 1)[1] for name in files}

    assert denied.status_code == 404
    assert scraped.status_code == 200
    samples = parse(scraped.text)
    count, labels = "ibw_http_request_duration_seconds_count", {"method": "GET", "route": "/health", "status": "200"}
    assert value(samples, count, **labels) - value(before, count, **labels) == requests
    assert len(pids) == 2, files  # both workers recorded, and /metrics added them up
    assert (
        value(while_open, "ibw_websocket_connections", path="/ws/notifications/") == 3
    )  # Daphne's sockets, scraped from gunicorn
