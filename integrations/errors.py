from __future__ import annotations

from ibw.errors import ApplicationError, RateLimited


class WebhookForbidden(ApplicationError):
    status_code = 403
    code = "PERMISSION_DENIED"
    message = "The webhook secret is missing or wrong."


class EnrichmentCooldown(RateLimited):
    message = "Your profile was enriched a short while ago; try again later."


class EnrichmentFailed(Exception):
    """A run could not finish; ``reason`` is the sentence stored on the user for admins."""

    def __init__(self, reason: str) -> None:
        self.reason = reason[:500]
        super().__init__(self.reason)
