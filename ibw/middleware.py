"""Request id and HTTPS redirect middleware."""

from __future__ import annotations

import ipaddress
import re
import uuid

import structlog
from django.middleware.security import SecurityMiddleware as DjangoSecurityMiddleware

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIDMiddleware:
    """
    Echo the client's ``X-Request-ID`` (or make one) on every response and bind
    it into every log line of the request, and into the Celery tasks it
    enqueues (see ``ibw.celery``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response["X-Request-ID"] = request_id
        return response


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class SecurityMiddleware(DjangoSecurityMiddleware):
    """
    Django's security middleware, except that a plain-HTTP request from the
    loopback address with no proxy in front (no ``X-Forwarded-Proto``) is not
    redirected: ``make run`` on a laptop works with ``DEBUG`` off, while a
    request through a proxy that says ``http`` is still sent to HTTPS.
    """

    def process_request(self, request):
        if "HTTP_X_FORWARDED_PROTO" not in request.META and _is_loopback(request.META.get("REMOTE_ADDR", "")):
            return None
        return super().process_request(request)
