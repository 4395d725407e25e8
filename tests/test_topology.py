"""
The production topology: gunicorn serves HTTP, Daphne only WebSockets, and
one proxy (Caddy, with deploy/Caddyfile) gives clients a single origin.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import aiohttp
import httpx
import pytest
import yaml
from django.conf import settings as django_settings

from tests.debian import ensure_binary
from tests.faults.servers import database_url
from tests.topology import Topology
from users.services import issue_tokens

BASE_DIR = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def test_compose_serves_http_with_gunicorn_and_websockets_with_daphne_behind_one_proxy():
    services = _compose()["services"]

    assert services["web"]["command"][:1] == ["gunicorn"]
    assert "ibw.wsgi:application" in services["web"]["command"]
    assert services["ws"]["command"][:3] == ["python", "-m", "ibw.daphne"]  # drains on SIGTERM
    assert "ibw.asgi:application" in services["ws"]["command"]
    assert services["proxy"]["image"] == "caddy:2"
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
    for name in ("web", "ws", "proxy"):
        assert services[name]["healthcheck"]["test"], name
    # Process counts come from the environment.
    assert services["web"]["environment"]["WEB_WORKERS"].startswith("${WEB_WORKERS")
    assert "WORKER_CONCURRENCY" in " ".join(services["worker"]["command"])
    # Only the proxy is published: clients see one origin.
    assert [name for name, s in services.items() if "ports" in s and name != "minio"] == ["proxy"]


def test_compose_runs_a_worker_for_each_queue_group():
    services = _compose()["services"]
    consumed = {}
    for name, service in services.items():
        command = " ".join(service.get("command", []))
        match = re.search(r"celery -A ibw worker --queues (\S+)", command)
        if match:
            for queue in match.group(1).split(","):
                consumed.setdefault(queue, []).append(name)

    assert consumed == {"critical": ["worker-critical"], "default": ["worker"], "low": ["worker-low"]}
    assert sorted(consumed) == sorted(q.name for q in django_settings.CELERY_TASK_QUEUES)


def test_caddyfile_routes_ws_to_daphne_and_the_rest_to_gunicorn():
    caddyfile = (BASE_DIR / "deploy" / "Caddyfile").read_text()

    assert re.search(r"@ws path /ws/\*\s+handle @ws \{\s+reverse_proxy \{\$WS_UPSTREAM:ws:8001\}", caddyfile)
    assert re.search(r"handle \{\s+reverse_proxy \{\$HTTP_UPSTREAM:web:8000\}", caddyfile)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_one_origin_serves_rest_from_gunicorn_and_websockets_from_daphne(user, settings):
    ensure_binary("caddy", package="caddy")
    env = {
        **{k: v for k, v in os.environ.items() if k != "CELERY_TASK_ALWAYS_EAGER"},
        "DATABASE_URL": database_url(),
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "TELEGRAM_BOT_TOKEN": settings.TELEGRAM_BOT_TOKEN,
    }
    access = issue_tokens(user)["access"]
    with Topology(env=env) as stack:
        me = httpx.get(f"{stack.base_url}/api/v1/users/me/", headers={"Authorization": f"Bearer {access}"}, timeout=10)
        direct = httpx.get(f"{stack.direct_web_url}/health", timeout=10)
        ws_path_over_http = httpx.get(f"{stack.base_url}/ws/notifications/", timeout=10)

        async def socket_round_trip() -> tuple[str, int | None]:
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"{stack.ws_url}/ws/notifications/?token={access}") as ws:
                    opened = "open" if not ws.closed else "closed"
                async with session.ws_connect(f"{stack.ws_url}/ws/notifications/?token=garbage") as ws:
                    await ws.receive(timeout=10)
                    return opened, ws.close_code

        opened, bad_token_close = asyncio.run(socket_round_trip())
        logs = stack.logs()

    assert me.status_code == 200, logs
    assert me.json()["id"] == user.id
    assert me.headers["Server"] == "Caddy, gunicorn"  # REST answered by gunicorn through Caddy
    assert direct.headers["Server"] == "gunicorn"
    assert ws_path_over_http.headers["Server"] == "Caddy, daphne"  # /ws/ goes to Daphne
    assert opened == "open"
    assert bad_token_close == 4401  # the socket reached Daphne's consumer through the proxy
