"""A missing key disables one integration and leaves everything else working."""

from __future__ import annotations

import pytest

from tests.telegram import message_update

pytestmark = pytest.mark.django_db


def test_ready_reports_integrations_without_keys_as_disabled(api, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.OPENAI_API_KEY = ""
    settings.APIFY_TOKEN = ""
    settings.LINKEDIN_API_KEY = ""

    response = api.get("/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert {k: body["checks"][k] for k in ("telegram", "openai", "apify", "linkedin")} == {
        "telegram": "disabled",
        "openai": "disabled",
        "apify": "disabled",
        "linkedin": "disabled",
    }


def test_ready_reports_configured_integrations(api, fake_openai, fake_apify, fake_linkedin):
    body = api.get("/ready").json()

    assert {k: body["checks"][k] for k in ("telegram", "openai", "apify", "linkedin", "storage")} == {
        "telegram": "configured",
        "openai": "configured",
        "apify": "configured",
        "linkedin": "configured",
        "storage": "local",
    }


def test_no_integration_keys_leave_profile_enrichment_and_the_bot_harmless(
    settings, user, user_api, send_update, django_capture_on_commit_callbacks
):
    for key in ("TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY", "APIFY_TOKEN", "LINKEDIN_API_KEY", "LINKEDIN_BASE_URL"):
        setattr(settings, key, "")

    with django_capture_on_commit_callbacks(execute=True):
        patched = user_api.patch("/api/v1/users/me/", {"twitter": "ada_l", "linkedin": "ada-l"}, format="json")
        enrich = user_api.post("/api/v1/users/me/enrich/")
    webhook = send_update(message_update("/start", telegram_id=user.telegram_id))

    assert (patched.status_code, patched.json()["enrichment"]["status"]) == (200, "skipped")
    assert (enrich.status_code, enrich.json()["status"]) == (202, "skipped")
    assert webhook.status_code == 200
    user.refresh_from_db()
    assert user.telegram_chat_id == user.telegram_id
