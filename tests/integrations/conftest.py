from __future__ import annotations

import pytest

from tests.fakes import apify, azure_openai, linkedin, openai
from tests.fakes.apify import FakeApify
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.openai import FakeOpenAI
from tests.fakes.s3 import moto_s3, s3  # noqa: F401 (fixtures: pytest finds them by name)


@pytest.fixture(scope="session")
def _fake_openai_server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="session")
def _fake_azure_openai_server():
    with FakeAzureOpenAI() as fake:
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


@pytest.fixture(params=[azure_openai.API_VERSION, "v1"], ids=["classic", "v1"])
def fake_azure_openai(request, _fake_azure_openai_server, settings):
    """Enrichment through the fake Azure resource, once with the classic (dated api-version) API, once with v1."""
    _fake_azure_openai_server.reset()
    settings.OPENAI_PROVIDER = "azure"
    settings.OPENAI_API_KEY = ""
    settings.AZURE_OPENAI_ENDPOINT = _fake_azure_openai_server.endpoint
    settings.AZURE_OPENAI_API_KEY = azure_openai.API_KEY
    settings.AZURE_OPENAI_DEPLOYMENT = azure_openai.DEPLOYMENT
    settings.AZURE_OPENAI_API_VERSION = request.param
    return _fake_azure_openai_server


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
