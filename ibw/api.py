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
import time
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.http import HttpResponse
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, pagination, permissions, status, throttling
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt import authentication as jwt_authentication
from rest_framework_simplejwt import state as jwt_state
from rest_framework_simplejwt.exceptions import InvalidToken, TokenBackendError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

logger = structlog.get_logger(__name__)


class AdminKey:
    """``request.auth`` of a request authenticated by ``X-Admin-Key``."""

    def __repr__(self) -> str:
        return "<AdminKey>"


ADMIN_KEY = AdminKey()


class JWTAuthentication(jwt_authentication.JWTAuthentication):
    """Bearer access tokens; a bad token answers ``INVALID_TOKEN``."""

    def get_user(self, validated_token):
        try:
            user = super().get_user(validated_token)
        except AuthenticationFailed as exc:
            # The account was erased (privacy): its tokens are invalid, like an inactive user's.
            if isinstance(exc.detail, dict) and exc.detail.get("code") == "user_not_found":
                raise InvalidToken("The account of this token no longer exists.") from None
            raise
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


def client_address(request) -> str:
    """
    The address a request came from, as the contract defines it: the peer
    address, or with ``NUM_PROXIES=n`` the n-th entry from the right of
    ``X-Forwarded-For`` (the one our outermost proxy wrote). Entries further
    left were written by the client and are never used; a request with fewer
    entries than proxies did not pass through them, so its peer address counts.
    """
    meta = getattr(request, "META", {})
    remote = meta.get("REMOTE_ADDR") or ""
    proxies = settings.NUM_PROXIES
    if proxies > 0:
        entries = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        entries = [part for part in entries if part]
        if len(entries) >= proxies:
            return entries[-proxies]
    return remote


class _FailOpenMixin:
    """Allow the request when the throttle store (Redis) is down: throttling is a
    guard, not a reason to refuse service. Client addresses come from
    ``client_address`` (``NUM_PROXIES``), never from a header the client chose."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # redis or cache backend errors of any kind
            logger.warning("throttle_store_unavailable", error=str(exc), scope=getattr(self, "scope", None))
            return True

    def get_ident(self, request):
        return client_address(request)


class _SettingsRateMixin:
    """Read the rate from a Django setting at call time (``rate_setting``)."""

    rate_setting = ""

    def get_rate(self):
        return getattr(settings, self.rate_setting)


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


class LoginThrottle(_FailOpenMixin, _SettingsRateMixin, throttling.SimpleRateThrottle):
    """
    Successful logins, counted per Telegram account (``THROTTLE_LOGIN``).

    The account is known only once the signature is verified, so this is not
    a view throttle: the login view calls ``check_account`` between verifying
    and logging the person in. Never per address: a venue NAT holds thousands.
    """

    scope = "login"
    rate_setting = "THROTTLE_LOGIN"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": getattr(request, "_login_telegram_id", None)}

    @classmethod
    def check_account(cls, request, view, *, telegram_id: int) -> None:
        """Count one login of ``telegram_id``; raise ``Throttled`` (429) over the rate."""
        request._login_telegram_id = telegram_id
        throttle = cls()
        if not throttle.allow_request(request, view):
            raise exceptions.Throttled(wait=throttle.wait())


class LoginFailureThrottle(throttling.BaseThrottle):
    """
    Failed login attempts per client address (``THROTTLE_LOGIN_FAILURES``).

    As a view throttle it only reads: an address with as many failures as the
    rate allows in the current window gets 429 on every login endpoint until
    the window (which starts at its first failure) passes. ``record`` counts
    a failure; Redis ``INCR`` keeps counts exact under a flood. People behind
    other addresses are never affected.
    """

    scope = "login_failures"

    def __init__(self):
        self._wait = None

    @staticmethod
    def _keys(request) -> tuple[str, str]:
        ident = client_address(request)
        return f"throttle_login_failures_{ident}", f"throttle_login_failures_{ident}_start"

    @staticmethod
    def _rate() -> tuple[int, int]:
        limit, period = settings.THROTTLE_LOGIN_FAILURES.split("/")
        return int(limit), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]

    def allow_request(self, request, view):
        try:
            return self._allow(request)
        except Exception as exc:  # redis or cache backend errors of any kind
            logger.warning("throttle_store_unavailable", error=str(exc), scope=self.scope)
            return True

    def _allow(self, request) -> bool:
        limit, duration = self._rate()
        count_key, start_key = self._keys(request)
        values = cache.get_many([count_key, start_key])
        if int(values.get(count_key) or 0) < limit:
            return True
        started = float(values.get(start_key) or time.time())
        self._wait = max(1.0, started + duration - time.time())
        logger.info("login_address_blocked", address=client_address(request), failures=values.get(count_key))
        return False

    def wait(self):
        return self._wait

    @classmethod
    def record(cls, request) -> None:
        """Count one failed login attempt from the request's client address."""
        try:
            _limit, duration = cls._rate()
            count_key, start_key = cls._keys(request)
            if cache.add(start_key, time.time(), timeout=duration):
                cache.set(count_key, 0, timeout=duration)
            try:
                cache.incr(count_key)
            except ValueError:  # the window expired between add and incr
                cache.set(count_key, 1, timeout=duration)
        except Exception as exc:  # redis or cache backend errors of any kind
            logger.warning("throttle_store_unavailable", error=str(exc), scope=cls.scope)


# A login endpoint answering one of these counts a failed attempt for the address.
LOGIN_FAILURE_STATUSES = frozenset({400, 401, 404, 410})


class LoginEndpointMixin:
    """
    For login views: a blocked address gets 429 before anything is verified,
    and every failed attempt (bad input or signature, unknown, used or expired
    login token) counts against the caller's address.
    """

    throttle_classes = [LoginFailureThrottle]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if response.status_code in LOGIN_FAILURE_STATUSES:
            LoginFailureThrottle.record(self.request)
        return response


class TokenOwnerThrottle(_FailOpenMixin, _SettingsRateMixin, throttling.SimpleRateThrottle):
    """
    Token refresh and logout, counted per token owner in the same bucket as
    their other calls (``THROTTLE_USER``). A token whose signature does not
    verify has no owner: those calls count per client address instead.
    """

    scope = "user"
    rate_setting = "THROTTLE_USER"

    def get_cache_key(self, request, view):
        raw = request.data.get("refresh") if hasattr(request.data, "get") else None
        owner = None
        if isinstance(raw, str) and raw:
            try:
                # Signature and expiry only (no database): the view decides the rest.
                owner = jwt_state.token_backend.decode(raw, verify=True).get(jwt_settings.USER_ID_CLAIM)
            except TokenBackendError:
                owner = None
        ident = owner if owner is not None else f"address-{client_address(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class BotLoginPollThrottle(_FailOpenMixin, _SettingsRateMixin, throttling.SimpleRateThrottle):
    """
    Polls of one bot-login token (``THROTTLE_ANON`` per token, not per
    address: a pending poll is a successful call, and a venue NAT polls for
    thousands of people at once).
    """

    scope = "bot_login_poll"
    rate_setting = "THROTTLE_ANON"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": view.kwargs.get("token", "")}


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
