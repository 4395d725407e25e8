"""What is configured: an integration without its key is disabled, never an error."""

from __future__ import annotations

from django.conf import settings

from integrations.enrichment import ai_provider


def integration_statuses() -> dict[str, str]:
    def state(*values: str) -> str:
        return "configured" if all(values) else "disabled"

    return {
        "telegram": state(settings.TELEGRAM_BOT_TOKEN),
        # The provider by name when it is Azure: "configured" alone would hide which service answers.
        "openai": _ai_state(),
        "apify": state(settings.APIFY_TOKEN),
        "linkedin": state(settings.LINKEDIN_API_KEY, settings.LINKEDIN_BASE_URL),
        "storage": settings.STORAGE_BACKEND,
    }


def _ai_state() -> str:
    provider = ai_provider()
    if provider.missing():
        return "disabled"
    return "configured" if provider.name == "openai" else provider.name
