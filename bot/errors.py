from __future__ import annotations

from ibw.errors import ApplicationError


class WebhookForbidden(ApplicationError):
    status_code = 403
    code = "PERMISSION_DENIED"
    message = "The webhook secret is missing or wrong."
