"""What is configured: an integration without its key is disabled, never an error."""

from __future__ import annotations

from django.conf import settings


def integration_statuses() -> dict[str, str]:
    def state(*values: str) -> str:
        return "configured" if all(values) else "disabled"

    return {
        "telegram": state(settings.TELEGRAM_BOT_TOKEN),
        "openai": state(settings.OPENAI_API_KEY),
        "apify": state(settings.APIFY_TOKEN),
        "linkedin": state(settings.LINKEDIN_API_KEY, settings.LINKEDIN_BASE_URL),
        "storage": settings.STORAGE_BACKEND,
    }
