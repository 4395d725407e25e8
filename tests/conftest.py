from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import AdminUserFactory, UserFactory
from tests.fakes.telegram import FakeTelegram
from tests.telegram import BOT_TOKEN, WEBHOOK, WEBHOOK_SECRET
from users.services import issue_tokens

ADMIN_KEY = "test-admin-key-0123456789"


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.ADMIN_API_KEY = ADMIN_KEY
    settings.TELEGRAM_BOT_TOKEN = BOT_TOKEN
    settings.TELEGRAM_BOT_USERNAME = "ibw_test_bot"
    settings.TELEGRAM_WEBHOOK_SECRET = WEBHOOK_SECRET


@pytest.fixture(autouse=True)
def _clean_redis():
    """Throttle counters and leaderboards live in Redis; each test starts clean."""
    cache.clear()
    yield


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def admin_user(db):
    return AdminUserFactory()


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)['access']}")
    return client


@pytest.fixture
def user_api(user) -> APIClient:
    return client_for(user)


@pytest.fixture
def admin_api(db) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_ADMIN_KEY=ADMIN_KEY)
    return client


@pytest.fixture(scope="session")
def _fake_telegram_server():
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def fake_telegram(_fake_telegram_server, settings):
    """The fake Bot API server, reset for this test, with the client pointed at it."""
    _fake_telegram_server.reset()
    settings.TELEGRAM_API_BASE_URL = _fake_telegram_server.base_url
    return _fake_telegram_server


@pytest.fixture
def send_update(api, django_capture_on_commit_callbacks):
    """POST an update to the webhook with the secret, running the queued work as a worker would."""

    def send(update: dict, *, secret: str | None = WEBHOOK_SECRET):
        headers = {} if secret is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret}
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(WEBHOOK, update, format="json", **headers)

    return send
