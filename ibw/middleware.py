"""Request id, access log and request metrics middleware."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from django.http import JsonResponse

from ibw import metrics
from ibw.errors import error_body

access_logger = structlog.get_logger("ibw.access")

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


class RejectNullBytesMiddleware:
    """
    Answer 400 to a path or query string holding a NUL byte. PostgreSQL text
    cannot store NUL, so such a value reaching a filter or lookup would fail
    as a database error (500); request bodies are covered by DRF's fields.
    A decoded query value holds NUL only if the raw string has ``%00`` or a
    raw NUL, so the raw string is checked without parsing it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in query or "%00" in query:
            return JsonResponse(error_body("The URL contains a NUL character.", "VALIDATION_ERROR"), status=400)
        return self.get_response(request)


def route_of(request) -> str:
    """The URL pattern that matched (``api/v1/conferences/<slug:slug>/sessions/``), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return "unmatched"
    return "/" + match.route.removeprefix("^").removesuffix("$")


class AccessLogMiddleware:
    """
    One JSON log line per request (``event="request"``: method, route,
    status, duration_ms, request_id) and the latency histogram by route and
    status. Runs inside ``RequestIDMiddleware`` so the id is bound.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request)
        metrics.observe_request(method=request.method, route=route, status=response.status_code, seconds=elapsed)
        access_logger.info(
            "request",
            method=request.method,
            route=route,
            status=response.status_code,
            duration_ms=round(elapsed * 1000, 2),
            request_id=getattr(request, "request_id", None),
        )
        return response
