"""
Enrichment through Azure OpenAI (``OPENAI_PROVIDER=azure``): the openai
library's Azure client (classic, dated api-version) and its plain client on
Azure's v1 API, against a fake that answers only Azure's paths and header.
Tests taking ``azure`` run once per API.
"""

from __future__ import annotations

import pytest

from tests.factories import UserFactory
from tests.fakes.apify import tweet
from tests.fakes.azure_openai import API_KEY, API_VERSION, DEPLOYMENT, content_filter_error
from users.enrichment import request_enrichment
from users.models import EnrichmentRun

pytestmark = pytest.mark.django_db

ANSWER = {"summary": "Ada builds zero-knowledge tooling.", "tags": ["zk"], "openers": ["Why ZK?"]}


@pytest.fixture
def azure(fake_azure_openai, fake_apify, fast_retries):
    fake_azure_openai.answer = ANSWER
    fake_apify.items["ada_l"] = [tweet("ada_l", "Shipping a new zk circuit today", name="Ada")]
    return fake_azure_openai


@pytest.fixture
def ada(db):
    return UserFactory(twitter="ada_l")


def _enrich(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request_enrichment(user)
    user.refresh_from_db()
    return user


def test_enrichment_calls_the_deployment_with_the_api_key_header(
    ada, azure, settings, django_capture_on_commit_callbacks
):
    _enrich(ada, django_capture_on_commit_callbacks)

    assert (ada.enrichment_status, ada.enrichment_summary, ada.enrichment_tags) == ("done", ANSWER["summary"], ["zk"])
    [call] = azure.requests
    if settings.AZURE_OPENAI_API_VERSION == "v1":
        assert (call.path, call.query) == ("/openai/v1/chat/completions", {})
    else:
        assert (call.path, call.query) == (
            f"/openai/deployments/{DEPLOYMENT}/chat/completions",
            {"api-version": API_VERSION},
        )
    headers = {name.lower(): value for name, value in call.headers.items()}
    assert headers["api-key"] == API_KEY
    assert "authorization" not in headers  # the key is not sent twice
    assert call.body["model"] == DEPLOYMENT
    assert call.body["response_format"]["json_schema"]["strict"] is True


def test_a_wrong_key_fails_at_once_with_a_readable_reason(ada, azure, settings, django_capture_on_commit_callbacks):
    settings.AZURE_OPENAI_API_KEY = "not-the-key"

    _enrich(ada, django_capture_on_commit_callbacks)

    assert (ada.enrichment_status, ada.enrichment_error) == (
        "failed",
        "Azure OpenAI refused our credentials (HTTP 401); check AZURE_OPENAI_API_KEY.",
    )
    assert len(azure.requests) == 1


def test_an_unknown_deployment_fails_at_once_naming_the_settings_to_check(
    ada, azure, settings, django_capture_on_commit_callbacks
):
    settings.AZURE_OPENAI_DEPLOYMENT = "gpt-typo"

    _enrich(ada, django_capture_on_commit_callbacks)

    assert (ada.enrichment_status, ada.enrichment_error) == (
        "failed",
        "Azure OpenAI has no such deployment or API version (HTTP 404); "
        "check AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_DEPLOYMENT and AZURE_OPENAI_API_VERSION.",
    )
    assert len(azure.requests) == 1


def test_a_429_is_retried_after_its_retry_after_then_succeeds(ada, azure, django_capture_on_commit_callbacks):
    azure.trouble(429, {"error": {"code": "429", "message": "Rate limit exceeded."}}, headers={"Retry-After": "1"})

    _enrich(ada, django_capture_on_commit_callbacks)

    assert ada.enrichment_status == "done"
    first, second = azure.requests
    assert second.at - first.at >= 1.0
    assert second.path == first.path


def test_a_429_that_lasts_fails_after_the_bounded_attempts(ada, azure, django_capture_on_commit_callbacks):
    azure.trouble(429, {"error": {"code": "429", "message": "Rate limit exceeded."}}, times=10)

    _enrich(ada, django_capture_on_commit_callbacks)

    assert (ada.enrichment_status, ada.enrichment_error) == (
        "failed",
        "Azure OpenAI answered HTTP 429. Gave up after 3 attempts.",
    )
    assert len(azure.requests) == 3  # INTEGRATIONS_HTTP_RETRIES (2) + 1


def test_a_prompt_refused_by_the_content_filter_fails_without_retrying(ada, azure, django_capture_on_commit_callbacks):
    azure.trouble(400, content_filter_error(violence="high", self_harm="medium"))

    _enrich(ada, django_capture_on_commit_callbacks)

    assert (ada.enrichment_status, ada.enrichment_error) == (
        "failed",
        "Azure OpenAI's content filter refused the profile data (self harm: medium, violence: high).",
    )
    assert EnrichmentRun.objects.get(user=ada).status == "failed"
    assert len(azure.requests) == 1


def test_an_answer_withheld_by_the_content_filter_fails_and_keeps_earlier_results(
    ada, azure, django_capture_on_commit_callbacks
):
    ada.enrichment_summary, ada.enrichment_tags = "Earlier summary.", ["earlier"]
    ada.save()
    azure.finish_reason = "content_filter"
    azure.filtered = {"hate": "medium"}
    azure.answer = '{"summary": "Ada'

    _enrich(ada, django_capture_on_commit_callbacks)

    assert (ada.enrichment_status, ada.enrichment_error) == (
        "failed",
        "Azure OpenAI's content filter withheld the AI's answer (hate: medium).",
    )
    assert (ada.enrichment_summary, ada.enrichment_tags) == ("Earlier summary.", ["earlier"])
    assert len(azure.requests) == 1


def test_an_azure_setting_missing_skips_enrichment_and_ready_says_disabled(
    ada, azure, api, settings, django_capture_on_commit_callbacks
):
    settings.AZURE_OPENAI_DEPLOYMENT = ""
    settings.OPENAI_API_KEY = "sk-set-but-not-the-chosen-provider"

    _enrich(ada, django_capture_on_commit_callbacks)
    ready = api.get("/ready")

    assert (ada.enrichment_status, ada.enrichment_error) == (
        "skipped",
        "Azure OpenAI is not configured (AZURE_OPENAI_DEPLOYMENT).",
    )
    assert azure.requests == []
    assert (ready.status_code, ready.json()["checks"]["openai"]) == (200, "disabled")


def test_ready_names_azure_as_the_provider(azure, api):
    response = api.get("/ready")

    assert (response.status_code, response.json()["checks"]["openai"]) == (200, "azure")


@pytest.mark.parametrize(
    "base_path,reason",
    [
        ("/v1", "OpenAI refused the request (HTTP 404)."),  # OpenAI's path
        ("/openai/v1", "OpenAI refused our credentials (HTTP 401); check OPENAI_API_KEY."),  # Bearer, no api-key
    ],
)
def test_the_fake_refuses_calls_made_the_openai_way(
    _fake_azure_openai_server,
    fake_apify,
    fast_retries,
    settings,
    ada,
    base_path,
    reason,
    django_capture_on_commit_callbacks,
):
    """Negative control: the plain OpenAI configuration pointed at Azure fails, so the tests above prove the routing."""
    fake = _fake_azure_openai_server
    fake.reset()
    fake.answer = ANSWER
    fake_apify.items["ada_l"] = [tweet("ada_l", "Shipping a new zk circuit today")]
    settings.OPENAI_PROVIDER = "openai"
    settings.OPENAI_API_KEY = API_KEY
    settings.OPENAI_BASE_URL = f"{fake.url}{base_path}"
    settings.OPENAI_MODEL = DEPLOYMENT

    _enrich(ada, django_capture_on_commit_callbacks)

    assert (ada.enrichment_status, ada.enrichment_error) == ("failed", reason)
    assert len(fake.requests) == 1
