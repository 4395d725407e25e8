"""
What every app's API shares: authentication, permissions, pagination,
throttles, and the renderers and conditional-GET helpers of the views that
answer calendars and images.

Admin calls authenticate either with ``X-Admin-Key`` (the system itself:
``request.user`` stays anonymous and ``request.auth`` is ``ADMIN_KEY``) or
with the JWT of an ``is_staff`` user. Use ``actor(request)`` to get the user
to record as host, reviewer or "checked in by" (``None`` for the key).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import inline_serializer
from rest_framework import pagination, permissions, status, throttling
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt import authentication as jwt_authentication
from rest_framework_simplejwt.exceptions import InvalidToken

logger = structlog.get_logger(__name__)


class AdminKey:
    """``request.auth`` of a request authenticated by ``X-Admin-Key``."""

    def __repr__(self) -> str:
        return "<AdminKey>"


ADMIN_KEY = AdminKey()


class JWTAuthentication(jwt_authentication.JWTAuthentication):
    """Bearer access tokens; a bad token answers ``INVALID_TOKEN``."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not user.is_active:
            raise InvalidToken("User is inactive.")
        return user


class AdminKeyAuthentication:
    """Authenticate the system itself by ``X-Admin-Key`` (constant-time compare)."""

    header = "HTTP_X_ADMIN_KEY"

    def authenticate(self, request: Request) -> tuple[Any, AdminKey] | None:
        supplied = request.META.get(self.header)
        if supplied is None:
            return None
        expected = settings.ADMIN_API_KEY
        if not expected or not hmac.compare_digest(supplied.encode(), expected.encode()):
            raise AuthenticationFailed("The admin key is not valid.")
        return AnonymousUser(), ADMIN_KEY

    def authenticate_header(self, request: Request) -> str:
        return "X-Admin-Key"


class JWTScheme(SimpleJWTScheme):
    target_class = "ibw.api.JWTAuthentication"


class AdminKeyScheme(OpenApiAuthenticationExtension):
    target_class = "ibw.api.AdminKeyAuthentication"
    name = "adminKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Admin-Key"}


def is_admin_key(request: Request) -> bool:
    return isinstance(request.auth, AdminKey)


def is_admin(request: Request) -> bool:
    return is_admin_key(request) or bool(request.user and request.user.is_authenticated and request.user.is_staff)


def actor(request: Request):
    """
    Return the logged-in user making the request, or ``None`` when nobody is
    logged in (the admin key, or an anonymous reader). The one helper for
    "who is calling": recorded as host, reviewer or "checked in by", and
    passed to selectors that personalise what they return.
    """
    return request.user if request.user.is_authenticated else None


class IsAdmin(permissions.BasePermission):
    """The admin key, or the JWT of an ``is_staff`` user."""

    message = "Only admins may do this."

    def has_permission(self, request: Request, view) -> bool:
        return is_admin(request)


class HasRole(permissions.BasePermission):
    """A user holding ``role`` (``organizer``, ``staff``), or an admin."""

    role: str = ""

    def has_permission(self, request: Request, view) -> bool:
        if is_admin(request):
            return True
        return bool(request.user.is_authenticated and request.user.has_role(self.role))


class IsOrganizer(HasRole):
    role = "organizer"
    message = "Only organizers and admins may do this."


class IsStaffRole(HasRole):
    role = "staff"
    message = "Only staff and admins may do this."


class IsUserOrAdmin(permissions.BasePermission):
    """A logged-in user, or an admin (the admin key has no user). Subclass it to add an object check."""

    def has_permission(self, request: Request, view) -> bool:
        return is_admin(request) or bool(request.user and request.user.is_authenticated)


class IsAuthenticatedUser(permissions.BasePermission):
    """A real logged-in user (the admin key is not a user)."""

    def has_permission(self, request: Request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)


class ReadPublicWriteAdmin(permissions.BasePermission):
    """Anyone reads; only admins write."""

    message = "Only admins may do this."

    def has_permission(self, request: Request, view) -> bool:
        return request.method in permissions.SAFE_METHODS or is_admin(request)


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def unpaginated(results: list) -> Response:
    """The contract's body for bounded collections."""
    return Response({"results": results})


def unpaginated_schema(serializer_class: type, name: str | None = None):
    """The OpenAPI schema of ``unpaginated(...)``: ``{"results": [serializer, ...]}``."""
    component = name or f"{serializer_class.__name__.removesuffix('Serializer')}Results"
    return inline_serializer(component, {"results": serializer_class(many=True)})


class _FailOpenMixin:
    """Allow the request when the throttle store (Redis) is down: throttling is a
    guard, not a reason to refuse service."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # redis or cache backend errors of any kind
            logger.warning("throttle_store_unavailable", error=str(exc), scope=getattr(self, "scope", None))
            return True


class AnonThrottle(_FailOpenMixin, throttling.AnonRateThrottle):
    """Anonymous callers, by client address; admin-key calls are not anonymous."""

    def get_cache_key(self, request, view):
        if is_admin_key(request):
            return None
        return super().get_cache_key(request, view)


class UserThrottle(_FailOpenMixin, throttling.UserRateThrottle):
    """Logged-in users by id; the admin key shares one bucket."""

    def get_cache_key(self, request, view):
        if is_admin_key(request):
            return self.cache_format % {"scope": self.scope, "ident": "admin-key"}
        if request.user and request.user.is_authenticated:
            return super().get_cache_key(request, view)
        return None


class LoginThrottle(_FailOpenMixin, throttling.SimpleRateThrottle):
    """Login endpoints, counted per client address whoever calls."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


# --- calendars, images and conditional GET ---------------------------------------


class ICalendarRenderer(BaseRenderer):
    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class PNGRenderer(BaseRenderer):
    media_type = "image/png"
    format = "png"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class NonJSONViewMixin:
    """Views answering a calendar or an image: errors still get the JSON error body."""

    renderer_classes = [JSONRenderer, ICalendarRenderer, PNGRenderer]

    def handle_exception(self, exc):
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


# --- Conditional GET ---------------------------------------------------------------


def digest(*parts: object) -> str:
    """A short stable hash of ``parts``, for ETags and cache keys."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]


def make_etag(*parts: object) -> str:
    """A strong ETag over ``parts``."""
    return f'"{digest(*parts)}"'


def etag_matches(request, etag: str) -> bool:
    """Whether the request's ``If-None-Match`` names ``etag`` (or ``*``)."""
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def not_modified(etag: str, *, private: bool) -> HttpResponse:
    """The 304 answer to a conditional GET whose ETag matched."""
    response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
    cache_headers(response, etag, private=private)
    return response


def cache_headers(response, etag: str, *, private: bool) -> None:
    response["ETag"] = etag
    # Clients may keep the answer but must ask again (cheaply, with If-None-Match) before using it.
    response["Cache-Control"] = "private, no-cache" if private else "public, no-cache"
    response["Vary"] = "Authorization, Accept-Encoding"
