from __future__ import annotations


class EnrichmentFailed(Exception):
    """A social-profile or AI call could not finish; ``reason`` is a sentence an admin can act on."""

    def __init__(self, reason: str) -> None:
        self.reason = reason[:500]
        super().__init__(self.reason)


class OidcFailed(Exception):
    """A Telegram OpenID Connect exchange or ID token check failed; ``reason`` says which step (for logs)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason[:500]
        super().__init__(self.reason)
