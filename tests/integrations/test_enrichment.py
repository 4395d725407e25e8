"""Social enrichment: the real httpx and openai clients against the fake Apify, LinkedIn and OpenAI servers."""

from __future__ import annotations

import contextlib
from datetime import date

import pytest
from django.db import transaction
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import AdminUserFactory, UserFactory
from tests.fakes.apify import TOKEN as APIFY_TOKEN
from tests.fakes.apify import tweet
from users.enrichment import request_enrichment, run_enrichment
from users.models import AIUsage, EnrichmentRun
from users.services import update_profile

pytestmark = pytest.mark.django_db

ENRICH = "/api/v1/users/me/enrich/"
ME = "/api/v1/users/me/"

GOOD_ANSWER = {
    "summary": "Ada builds zero-knowledge tooling and writes about DeFi.",
    "tags": ["ZK", " zk", "DeFi", "#rust"],
    "openers": ["What got you into zero-knowledge proofs?", "Which Rust crates do you rely on?"],
}


@pytest.fixture
def configured(fake_openai, fake_apify, fake_linkedin, fast_retries):
    fake_openai.answer = GOOD_ANSWER
    fake_apify.items["ada_l"] = [
        tweet("ada_l", "Shipping a new zk circuit today", bio="ZK & Rust <3", name="Ada"),
        tweet("ada_l", "DeFi needs better audits"),
    ]
    fake_linkedin.profiles["ada-lovelace"] = {
        "full_name": "Ada Lovelace",
        "headline": "Cryptography engineer",
        "summary": "Zero knowledge.",
        "positions": [{"title": "Engineer", "company": "Analytical Engines"}],
    }
    return fake_openai, fake_apify, fake_linkedin


@pytest.fixture
def ada(db):
    return UserFactory(twitter="ada_l", linkedin="ada-lovelace")


def _enrich(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(ENRICH)


def test_enrich_stores_a_validated_summary_and_tags(ada, configured, django_capture_on_commit_callbacks):
    fake_openai, fake_apify, fake_linkedin = configured
    client = client_for(ada)

    response = _enrich(client, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    assert response.json() == {"status": "pending", "summary": "", "tags": []}
    assert client.get(ME).json()["enrichment"] == {
        "status": "done",
        "summary": "Ada builds zero-knowledge tooling and writes about DeFi.",
        "tags": ["zk", "defi", "rust"],
    }
    ada.refresh_from_db()
    assert ada.enrichment_openers == GOOD_ANSWER["openers"]
    assert ada.enrichment_error == ""
    assert ada.enriched_at is not None
    [apify_call] = fake_apify.requests
    assert apify_call.path == "/v2/acts/apidojo~tweet-scraper/run-sync-get-dataset-items"
    assert apify_call.headers["Authorization"] == f"Bearer {APIFY_TOKEN}"
    assert apify_call.body["twitterHandles"] == ["ada_l"]
    [linkedin_call] = fake_linkedin.requests
    assert linkedin_call.query == {"url": "https://www.linkedin.com/in/ada-lovelace/"}
    [completion] = fake_openai.completion_requests()
    assert completion.body["model"] == "gpt-test-mini"
    assert completion.body["response_format"]["type"] == "json_schema"
    assert completion.body["response_format"]["json_schema"]["strict"] is True
    prompt = completion.body["messages"][1]["content"]
    assert "Shipping a new zk circuit today" in prompt
    assert "Cryptography engineer" in prompt
    assert EnrichmentRun.objects.get(user=ada).status == "done"
    assert AIUsage.objects.get().calls == 1


def test_enrich_without_openai_key_is_skipped_not_an_error(
    ada, configured, settings, django_capture_on_commit_callbacks
):
    settings.OPENAI_API_KEY = ""
    client = client_for(ada)

    response = _enrich(client, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    assert response.json() == {"status": "skipped", "summary": "", "tags": []}
    assert client.get(ME).json()["enrichment"]["status"] == "skipped"
    ada.refresh_from_db()
    assert ada.enrichment_error == "OpenAI is not configured (OPENAI_API_KEY)."
    assert configured[0].requests == configured[1].requests == configured[2].requests == []


def test_enrich_without_any_social_profile_is_skipped(configured, django_capture_on_commit_callbacks):
    user = UserFactory()

    response = _enrich(client_for(user), django_capture_on_commit_callbacks)

    assert response.json() == {"status": "skipped", "summary": "", "tags": []}
    user.refresh_from_db()
    assert user.enrichment_error == "No X/Twitter or LinkedIn profile to read."


def test_enrich_with_only_unconfigured_sources_is_skipped(configured, settings, django_capture_on_commit_callbacks):
    settings.APIFY_TOKEN = ""
    user = UserFactory(twitter="ada_l")

    response = _enrich(client_for(user), django_capture_on_commit_callbacks)

    assert response.json()["status"] == "skipped"
    user.refresh_from_db()
    assert user.enrichment_error == "No configured integration reads this profile (APIFY_TOKEN, LINKEDIN_API_KEY)."


def test_enrich_with_linkedin_unconfigured_uses_twitter_alone(
    ada, configured, settings, django_capture_on_commit_callbacks
):
    settings.LINKEDIN_API_KEY = ""

    _enrich(client_for(ada), django_capture_on_commit_callbacks)

    ada.refresh_from_db()
    assert ada.enrichment_status == "done"
    assert configured[2].requests == []
    assert len(configured[1].requests) == 1


def test_enrich_anonymous_is_401(api):
    response = api.post(ENRICH)

    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"


def test_enrich_while_a_run_is_waiting_queues_nothing_more(ada, configured, django_capture_on_commit_callbacks):
    client = client_for(ada)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = client.post(ENRICH)
        second = client.post(ENRICH)

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["status"] == "pending"
    assert len(callbacks) == 1
    assert EnrichmentRun.objects.filter(user=ada).count() == 1


def test_enrich_again_within_the_cooldown_is_429(ada, configured, django_capture_on_commit_callbacks):
    client = client_for(ada)
    _enrich(client, django_capture_on_commit_callbacks)

    response = _enrich(client, django_capture_on_commit_callbacks)

    assert response.status_code == 429
    assert response.json() == {
        "error": "Your profile was enriched a short while ago; try again later.",
        "code": "RATE_LIMITED",
    }
    assert 3500 < int(response["Retry-After"]) <= 3601
    assert len(configured[0].completion_requests()) == 1


def test_enrich_after_the_cooldown_runs_again(ada, configured, settings, django_capture_on_commit_callbacks):
    settings.ENRICHMENT_COOLDOWN_SECONDS = 0
    client = client_for(ada)
    _enrich(client, django_capture_on_commit_callbacks)

    response = _enrich(client, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    assert len(configured[0].completion_requests()) == 2


# --- answers that must not be stored --------------------------------------------------------


@pytest.fixture
def enriched_before(ada):
    ada.enrichment_status = "done"
    ada.enrichment_summary = "Earlier summary."
    ada.enrichment_tags = ["earlier"]
    ada.save()
    return ada


@pytest.mark.parametrize(
    "answer,reason",
    [
        ("Sure! Here is the JSON: {", "The AI answer was not valid JSON."),
        ("", "The AI answer was empty."),
        (
            {**GOOD_ANSWER, "tags": [f"tag{n}" for n in range(11)]},
            "The AI answer did not match the schema at tags: ['tag0', 'tag1', 'tag2', 'tag3', 'tag4', 'tag5', 'tag6', 'tag7', 'tag8', 'tag9', 'tag10'] is too long",
        ),
        (
            {"summary": "Half an answer"},
            "The AI answer did not match the schema at answer: 'tags' is a required property",
        ),
        (
            {**GOOD_ANSWER, "tags": "zk, defi"},
            "The AI answer did not match the schema at tags: 'zk, defi' is not of type 'array'",
        ),
        ({**GOOD_ANSWER, "summary": "   "}, "The AI answer had an empty summary."),
        (
            {**GOOD_ANSWER, "extra": 1},
            "The AI answer did not match the schema at answer: Additional properties are not allowed ('extra' was unexpected)",
        ),
    ],
)
def test_enrich_with_an_invalid_ai_answer_fails_and_keeps_earlier_results(
    enriched_before, configured, answer, reason, django_capture_on_commit_callbacks
):
    configured[0].answer = answer

    _enrich(client_for(enriched_before), django_capture_on_commit_callbacks)

    enriched_before.refresh_from_db()
    assert enriched_before.enrichment_status == "failed"
    assert enriched_before.enrichment_error == reason
    assert (enriched_before.enrichment_summary, enriched_before.enrichment_tags) == ("Earlier summary.", ["earlier"])
    assert EnrichmentRun.objects.get(user=enriched_before).error == reason


def test_enrich_with_an_ai_refusal_fails(ada, configured, django_capture_on_commit_callbacks):
    configured[0].refusal = "I can't help with that."

    _enrich(client_for(ada), django_capture_on_commit_callbacks)

    ada.refresh_from_db()
    assert (ada.enrichment_status, ada.enrichment_error) == ("failed", "The AI declined: I can't help with that.")


def test_enrich_with_a_cut_off_ai_answer_fails(ada, configured, django_capture_on_commit_callbacks):
    configured[0].finish_reason = "length"

    _enrich(client_for(ada), django_capture_on_commit_callbacks)

    ada.refresh_from_db()
    assert ada.enrichment_error == "The AI answer was cut off before it was complete."


def test_enrich_with_a_non_completion_body_fails(ada, configured, django_capture_on_commit_callbacks):
    configured[0].trouble(200, "<html>gateway</html>")

    _enrich(client_for(ada), django_capture_on_commit_callbacks)

    ada.refresh_from_db()
    assert ada.enrichment_status == "failed"
    assert ada.enrichment_error.startswith("OpenAI")


# --- retries, timeouts ---------------------------------------------------------------


def test_enrich_retries_a_429_from_openai_then_succeeds(ada, configured, django_capture_on_commit_callbacks):
    configured[0].trouble(429, {"error": {"message": "Rate limit reached", "type": "requests"}})

    _enrich(client_for(ada), django_capture_on_commit_callbacks)

    ada.refresh_from_db()
    assert ada.enrichment_status == "done"
    assert len(configured[0].completion_requests()) == 2


def test_enrich_retries_5xx_from_apify_then_succeeds(ada, configured, django_capture_on_commit_callbacks):
    configured[1].trouble(503, {"error": {"type": "unavailable"}}, times=2)

    _enrich(client_for(ada), django_capture_on_commit_callbacks)

    ada.refresh_from_db()
    assert ada.enrichment_status == "done"
    assert len(configured[1].requests) == 3


def test_enrich_does_not_retry_a_4xx(configured, django_capture_on_commit_callbacks):
    user = UserFactory(linkedin="nobody-here")

    _enrich(client_for(user), django_capture_on_commit_callbacks)

    user.refresh_from_db()
    assert (user.enrichment_status, user.enrichment_error) == ("failed", "LinkedIn knows no such profile.")
    assert len(configured[2].requests) == 1
    assert configured[0].requests == []


def test_enrich_with_a_wrong_openai_key_fails_without_retrying(
    ada, configured, settings, django_capture_on_commit_callbacks
):
    settings.OPENAI_API_KEY = "sk-wrong"

    _enrich(client_for(ada), django_capture_on_commit_callbacks)

    ada.refresh_from_db()
    assert ada.enrichment_error == "OpenAI refused our credentials (HTTP 401); check OPENAI_API_KEY."
    assert len(configured[0].completion_requests()) == 1


def test_enrich_gives_up_on_a_slow_ai_after_the_retries(ada, configured, settings, django_capture_on_commit_callbacks):
    settings.OPENAI_TIMEOUT = 0.3
    settings.INTEGRATIONS_HTTP_RETRIES = 1
    configured[0].trouble(delay=1.0, times=2)

    _enrich(client_for(ada), django_capture_on_commit_callbacks)

    ada.refresh_from_db()
    assert (ada.enrichment_status, ada.enrichment_error) == (
        "failed",
        "OpenAI did not answer in time. Gave up after 2 attempts.",
    )
    assert len(configured[0].completion_requests()) == 2


def test_enrich_with_a_slow_source_uses_the_other_one(ada, configured, settings, django_capture_on_commit_callbacks):
    settings.INTEGRATIONS_HTTP_TIMEOUT = 0.3
    settings.INTEGRATIONS_HTTP_RETRIES = 0
    configured[1].trouble(delay=1.0)

    _enrich(client_for(ada), django_capture_on_commit_callbacks)

    ada.refresh_from_db()
    assert ada.enrichment_status == "done"
    prompt = configured[0].completion_requests()[0].body["messages"][1]["content"]
    assert "Cryptography engineer" in prompt
    assert "Shipping" not in prompt


def test_enrich_when_every_source_fails_names_the_reasons(configured, settings, django_capture_on_commit_callbacks):
    settings.INTEGRATIONS_HTTP_TIMEOUT = 0.3
    settings.INTEGRATIONS_HTTP_RETRIES = 0
    configured[1].trouble(delay=1.0)
    user = UserFactory(twitter="ada_l")

    _enrich(client_for(user), django_capture_on_commit_callbacks)

    user.refresh_from_db()
    assert (user.enrichment_status, user.enrichment_error) == (
        "failed",
        "X/Twitter (Apify) did not answer in time. Gave up after 1 attempts.",
    )
    assert configured[0].requests == []


def test_enrich_with_a_malformed_apify_answer_fails(configured, django_capture_on_commit_callbacks):
    configured[1].trouble(201, {"items": "not a list"})
    user = UserFactory(twitter="ada_l")

    _enrich(client_for(user), django_capture_on_commit_callbacks)

    user.refresh_from_db()
    assert user.enrichment_error == "X/Twitter (Apify) answered something other than a list of items."


def test_enrich_with_no_posts_found_fails(configured, django_capture_on_commit_callbacks):
    user = UserFactory(twitter="ghost")

    _enrich(client_for(user), django_capture_on_commit_callbacks)

    user.refresh_from_db()
    assert user.enrichment_error == "X/Twitter (Apify) found no posts by @ghost."


# --- budget, runs, profile changes, admin ----------------------------------------------------


def test_enrich_over_the_daily_ai_budget_fails_without_calling_the_ai(
    ada, configured, settings, django_capture_on_commit_callbacks
):
    settings.ENRICHMENT_DAILY_AI_BUDGET = 0

    _enrich(client_for(ada), django_capture_on_commit_callbacks)

    ada.refresh_from_db()
    assert (ada.enrichment_status, ada.enrichment_error) == (
        "failed",
        "Today's AI budget (ENRICHMENT_DAILY_AI_BUDGET) is used up; try again tomorrow.",
    )
    assert configured[0].requests == []


def test_an_older_run_is_superseded_by_a_newer_one(ada, configured, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        older = request_enrichment(ada)
        newer = request_enrichment(ada, force=True)

    run_enrichment(older.pk)
    run_enrichment(newer.pk)
    run_enrichment(newer.pk)

    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.status, newer.status) == ("superseded", "done")
    assert len(configured[0].completion_requests()) == 1


def test_profile_link_change_queues_an_enrichment(configured, user, user_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.patch(ME, {"twitter": "@ada_l"}, format="json")

    assert response.status_code == 200
    assert response.json()["enrichment"]["status"] == "pending"
    user.refresh_from_db()
    assert (user.enrichment_status, user.enrichment_tags) == ("done", ["zk", "defi", "rust"])
    assert EnrichmentRun.objects.get(user=user).trigger == "profile"


def test_profile_edit_without_link_change_does_not_enrich(
    configured, user, user_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        user_api.patch(ME, {"company": "Acme"}, format="json")

    assert not EnrichmentRun.objects.exists()
    assert configured[0].requests == []


def test_profile_link_change_within_the_cooldown_is_deferred_not_refused(
    ada, configured, django_capture_on_commit_callbacks
):
    client = client_for(ada)
    _enrich(client, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(ME, {"twitter": "grace_h"}, format="json")

    assert response.status_code == 200
    assert EnrichmentRun.objects.filter(user=ada).count() == 2


def test_update_profile_service_decides_that_a_link_change_enriches(configured, django_capture_on_commit_callbacks):
    person = UserFactory(twitter="", linkedin="", company="")

    with django_capture_on_commit_callbacks(execute=True) as unchanged:
        update_profile(person, company="Acme")
    with django_capture_on_commit_callbacks(execute=True) as changed:
        update_profile(person, twitter="ada_l")

    assert (len(unchanged), len(changed)) == (0, 1)
    assert list(EnrichmentRun.objects.filter(user=person).values_list("trigger", "status")) == [("profile", "done")]
    person.refresh_from_db()
    assert (person.twitter, person.company, person.enrichment_status) == ("ada_l", "Acme", "done")


def test_update_profile_rolled_back_requests_no_enrichment(configured, django_capture_on_commit_callbacks):
    person = UserFactory(twitter="", linkedin="")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        contextlib.suppress(RuntimeError),
        transaction.atomic(),
    ):
        update_profile(person, twitter="ada_l")
        raise RuntimeError("the caller's transaction fails after the update")

    assert callbacks == []
    assert not EnrichmentRun.objects.exists()
    person.refresh_from_db()
    assert (person.twitter, person.enrichment_status) == ("", "")
    assert configured[0].requests == []


def test_removing_every_link_clears_the_enrichment(configured, enriched_before, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(enriched_before).patch(ME, {"twitter": "", "linkedin": ""}, format="json")

    enriched_before.refresh_from_db()
    assert (enriched_before.enrichment_status, enriched_before.enrichment_summary, enriched_before.enrichment_tags) == (
        "skipped",
        "",
        [],
    )


def test_admin_re_enrich_action_ignores_the_cooldown(ada, configured, client, django_capture_on_commit_callbacks):
    _enrich(client_for(ada), django_capture_on_commit_callbacks)
    client.force_login(AdminUserFactory(is_superuser=True))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:users_user_changelist"), {"action": "re_enrich", "_selected_action": [ada.pk]}
        )

    assert response.status_code == 302
    assert list(EnrichmentRun.objects.filter(user=ada).values_list("trigger", "status")) == [
        ("admin", "done"),
        ("request", "done"),
    ]
    assert len(configured[0].completion_requests()) == 2


def test_admin_user_list_shows_the_enrichment_status(ada, client):
    ada.enrichment_status = "failed"
    ada.save()
    client.force_login(AdminUserFactory(is_superuser=True))

    response = client.get(reverse("admin:users_user_changelist"))

    assert response.status_code == 200
    content = response.content.decode()
    assert "column-enrichment_status" in content
    assert "Failed" in content


def test_admin_lists_enrichment_runs_ai_usage_and_bot_updates_under_their_new_apps(ada, client):
    from bot.models import ProcessedUpdate

    EnrichmentRun.objects.create(user=ada, trigger="request", status="failed", error="LinkedIn knows no such profile.")
    AIUsage.objects.create(day=date(2026, 11, 20), calls=7)
    ProcessedUpdate.objects.create(update_id=424242, payload={"update_id": 424242})
    client.force_login(AdminUserFactory(is_superuser=True))

    runs = client.get(reverse("admin:users_enrichmentrun_changelist"))
    usage = client.get(reverse("admin:users_aiusage_changelist"))
    updates = client.get(reverse("admin:bot_processedupdate_changelist"))

    assert (runs.status_code, usage.status_code, updates.status_code) == (200, 200, 200)
    assert "LinkedIn knows no such profile." in runs.content.decode()
    assert '<td class="field-calls">7</td>' in usage.content.decode()
    assert ">424242</a>" in updates.content.decode()
