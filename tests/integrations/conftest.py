from __future__ import annotations

import itertools
import time

import pytest

from tests.fakes import apify, linkedin, openai
from tests.fakes.apify import FakeApify
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.openai import FakeOpenAI

WEBHOOK = "/api/v1/integrations/telegram/webhook/"
SECRET = "test-webhook-secret"

_update_ids = itertools.count(10_000)
_message_ids = itertools.count(1)


def message_update(
    text: str,
    *,
    telegram_id: int = 4242,
    first_name: str = "Ada",
    username: str = "ada",
    chat_id: int | None = None,
    chat_type: str = "private",
    update_id: int | None = None,
) -> dict:
    """A Telegram ``Update`` carrying a text message, as the Bot API sends it."""
    sender = {"id": telegram_id, "is_bot": False, "first_name": first_name, "username": username, "language_code": "en"}
    chat = (
        {"id": telegram_id, "first_name": first_name, "username": username, "type": "private"}
        if chat_type == "private"
        else {"id": chat_id, "title": "IBW chat", "type": chat_type}
    )
    message = {"message_id": next(_message_ids), "from": sender, "chat": chat, "date": int(time.time()), "text": text}
    if text.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    return {"update_id": update_id if update_id is not None else next(_update_ids), "message": message}


@pytest.fixture
def send_update(api, django_capture_on_commit_callbacks):
    """POST an update to the webhook with the secret, running the queued work as a worker would."""

    def send(update: dict, *, secret: str | None = SECRET):
        headers = {} if secret is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret}
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(WEBHOOK, update, format="json", **headers)

    return send


@pytest.fixture(scope="session")
def _fake_openai_server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="session")
def _fake_apify_server():
    with FakeApify() as fake:
        yield fake


@pytest.fixture(scope="session")
def _fake_linkedin_server():
    with FakeLinkedIn() as fake:
        yield fake


@pytest.fixture
def fake_openai(_fake_openai_server, settings):
    _fake_openai_server.reset()
    settings.OPENAI_BASE_URL = _fake_openai_server.base_url
    settings.OPENAI_API_KEY = openai.API_KEY
    settings.OPENAI_MODEL = "gpt-test-mini"
    return _fake_openai_server


@pytest.fixture
def fake_apify(_fake_apify_server, settings):
    _fake_apify_server.reset()
    settings.APIFY_BASE_URL = _fake_apify_server.url
    settings.APIFY_TOKEN = apify.TOKEN
    settings.APIFY_TWITTER_ACTOR = "apidojo~tweet-scraper"
    return _fake_apify_server


@pytest.fixture
def fake_linkedin(_fake_linkedin_server, settings):
    _fake_linkedin_server.reset()
    settings.LINKEDIN_BASE_URL = _fake_linkedin_server.url
    settings.LINKEDIN_API_KEY = linkedin.API_KEY
    return _fake_linkedin_server


@pytest.fixture
def fast_retries(settings):
    settings.INTEGRATIONS_RETRY_BACKOFF = 0.01
    settings.INTEGRATIONS_HTTP_RETRIES = 2
    settings.INTEGRATIONS_HTTP_TIMEOUT = 5
    settings.OPENAI_TIMEOUT = 5
    settings.ENRICHMENT_COOLDOWN_SECONDS = 3600
    settings.ENRICHMENT_DAILY_AI_BUDGET = 100
