"""
One error body for every layer: ``{"error", "code", "details"?}``.

Services raise ``ApplicationError`` subclasses; DRF's exception handler and
Django's 400/403/404/500 handlers below turn every failure into that body,
so a client parses errors one way whatever produced them.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

logger = structlog.get_logger(__name__)


class ApplicationError(Exception):
    """A domain error with the contract's status and code."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = "BAD_REQUEST"
    message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(ApplicationError):
    status_code = 400
    code = "VALIDATION_ERROR"
    message = "The request is not valid."


class NotFound(ApplicationError):
    status_code = 404
    code = "NOT_FOUND"
    message = "Not found."


class Conflict(ApplicationError):
    status_code = 409
    code = "CONFLICT"
    message = "The request conflicts with the current state."


class Gone(ApplicationError):
    status_code = 410
    code = "GONE"
    message = "This resource is no longer available."


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "The upload is too large."


class UnsupportedMediaType(ApplicationError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    message = "This media type is not supported."


class RateLimited(ApplicationError):
    status_code = 429
    code = "RATE_LIMITED"
    message = "Too many requests; try again later."

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})


class ServiceUnavailable(ApplicationError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    message = "A service this request needs is unavailable; try again shortly."


_DRF_CODES: list[tuple[type[Exception], str]] = [
    (InvalidToken, "INVALID_TOKEN"),
    (exceptions.NotAuthenticated, "NOT_AUTHENTICATED"),
    (exceptions.AuthenticationFailed, "NOT_AUTHENTICATED"),
    (exceptions.PermissionDenied, "PERMISSION_DENIED"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.Throttled, "RATE_LIMITED"),
    (exceptions.ParseError, "VALIDATION_ERROR"),
    (exceptions.ValidationError, "VALIDATION_ERROR"),
]


def error_body(message: str, code: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message, "code": code}
    if details is not None:
        body["details"] = details
    return body


def _first_message(details: Any) -> str:
    """Return the first human-readable message in DRF's nested error details."""
    if isinstance(details, dict):
        for field, value in details.items():
            message = _first_message(value)
            if field in ("non_field_errors", "__all__"):
                return message
            return f"{field}: {message}"
    if isinstance(details, list) and details:
        return _first_message(details[0])
    return str(details)


def _as_field_dict(details: Any) -> dict[str, Any]:
    if isinstance(details, dict):
        return details
    return {"non_field_errors": details if isinstance(details, list) else [details]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: map any exception to the contract's body."""
    set_rollback()
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.message, exc.code, exc.details), status=exc.status_code, headers=exc.headers)
    if isinstance(exc, TokenError):
        exc = InvalidToken(str(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(error_body("The request body is too large.", "PAYLOAD_TOO_LARGE"), status=413)
    elif isinstance(exc, (TooManyFieldsSent, SuspiciousOperation)):
        return Response(error_body("The request is malformed.", "VALIDATION_ERROR"), status=400)
    elif isinstance(exc, (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)):
        logger.warning("dependency_unavailable", error=str(exc), exc_type=type(exc).__name__)
        return Response(
            error_body(ServiceUnavailable.message, ServiceUnavailable.code), status=503, headers={"Retry-After": "5"}
        )

    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "ERROR")
        headers: dict[str, str] = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if isinstance(exc, exceptions.Throttled):
            headers["Retry-After"] = str(max(1, int(exc.wait or 1)))
            return Response(error_body("Too many requests; try again later.", code), status=429, headers=headers)
        if isinstance(exc, exceptions.ValidationError):
            details = _as_field_dict(exc.detail)
            return Response(error_body(_first_message(details), code, details), status=400)
        if isinstance(exc, exceptions.ParseError):
            return Response(error_body(str(exc.detail), code, {"non_field_errors": [str(exc.detail)]}), status=400)
        if isinstance(exc, InvalidToken):
            message = "The token is invalid or expired."
        else:
            message = str(exc.detail) if not isinstance(exc.detail, (list, dict)) else _first_message(exc.detail)
        return Response(error_body(message, code), status=exc.status_code, headers=headers)

    if isinstance(exc, DatabaseError):
        logger.exception("database_error")
    else:
        logger.exception("unhandled_exception", exc_type=type(exc).__name__)
    return Response(error_body("Something went wrong on our side.", "INTERNAL_ERROR"), status=500)


# Django-level handlers, for paths outside DRF (unknown URLs, admin, static).


def bad_request(request, exception=None):
    return JsonResponse(error_body("The request is malformed.", "VALIDATION_ERROR"), status=400)


def permission_denied(request, exception=None):
    return JsonResponse(error_body("You do not have permission to do this.", "PERMISSION_DENIED"), status=403)


@csrf_exempt
def page_not_found(request, exception=None):
    return JsonResponse(error_body("Not found.", "NOT_FOUND"), status=404)


def csrf_failure(request, reason=""):
    """``CSRF_FAILURE_VIEW``: only Django admin forms use CSRF; the API uses tokens."""
    return JsonResponse(
        error_body("The form expired or was not sent from this site; reload it and try again.", "PERMISSION_DENIED"),
        status=403,
    )


def server_error(request):
    return JsonResponse(error_body("Something went wrong on our side.", "INTERNAL_ERROR"), status=500)
