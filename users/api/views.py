from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from ibw.api import BotLoginPollThrottle, IsAuthenticatedUser, LoginEndpointMixin, LoginThrottle, TokenOwnerThrottle
from users import services
from users.api import serializers as s
from users.enrichment import request_enrichment
from users.selectors import access_user, oidc_client_config

ERRORS = {401: OpenApiResponse(description="Error body with code")}


def _login_response(request, user) -> Response:
    tokens = services.issue_tokens(user)
    return Response({**tokens, "user": s.MeSerializer(user, context={"request": request}).data})


class TelegramLoginView(LoginEndpointMixin, APIView):
    """Log in with the Telegram Login Widget's signed fields."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=s.TelegramWidgetInputSerializer, responses={200: s.LoginSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        data = s.TelegramWidgetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # Verify every field exactly as sent: Telegram signs all it sends,
        # including fields this server does not know yet.
        signed = {k: v for k, v in request.data.items() if not isinstance(v, (dict, list))}
        identity = services.widget_identity(signed)
        LoginThrottle.check_account(request, self, telegram_id=identity.id)
        return _login_response(request, services.upsert_telegram_user(identity))


class TelegramWebAppLoginView(LoginEndpointMixin, APIView):
    """Log in from a Telegram Mini App with its raw ``initData``."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=s.TelegramWebAppInputSerializer, responses={200: s.LoginSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        data = s.TelegramWebAppInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        identity = services.webapp_identity(data.validated_data["init_data"])
        LoginThrottle.check_account(request, self, telegram_id=identity.id)
        return _login_response(request, services.upsert_telegram_user(identity))


class TelegramOidcLoginView(LoginEndpointMixin, APIView):
    """Log in with Telegram's OpenID Connect (authorization code + PKCE); GET tells clients how to start."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_throttles(self):
        # Reading the configuration is no login attempt: only POST counts against the login limit.
        return (
            super().get_throttles()
            if self.request.method == "POST"
            else [t() for t in api_settings.DEFAULT_THROTTLE_CLASSES]
        )

    @extend_schema(responses={200: s.TelegramOidcConfigSerializer}, tags=["auth"])
    def get(self, request):
        return Response(s.TelegramOidcConfigSerializer(oidc_client_config()).data)

    @extend_schema(request=s.TelegramOidcInputSerializer, responses={200: s.LoginSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        data = s.TelegramOidcInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        identity = services.oidc_identity(**data.validated_data)
        LoginThrottle.check_account(request, self, telegram_id=identity.id)
        return _login_response(request, services.upsert_telegram_user(identity))


class BotLoginCreateView(LoginEndpointMixin, APIView):
    """Start a login through the bot's deep link (refused only to a blocked address)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={201: s.BotLoginSerializer}, tags=["auth"])
    def post(self, request):
        login = services.create_bot_login()
        bot = settings.TELEGRAM_BOT_USERNAME or "bot"
        body = {
            "token": login.token,
            "deep_link": f"https://t.me/{bot}?start=login_{login.token}",
            "expires_at": login.expires_at,
        }
        return Response(s.BotLoginSerializer(body).data, status=status.HTTP_201_CREATED)


class BotLoginPollView(LoginEndpointMixin, APIView):
    """
    Poll a bot login: pending, then once confirmed with tokens; 410 afterwards.
    Limited per token, not per address; unknown, used or expired tokens count
    as failed attempts of the address.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [*LoginEndpointMixin.throttle_classes, BotLoginPollThrottle]

    @extend_schema(
        responses={200: s.BotLoginStatusSerializer, 410: OpenApiResponse(description="Used or expired")}, tags=["auth"]
    )
    def get(self, request, token: str):
        state, user = services.collect_bot_login(token)
        if user is None:
            return Response({"status": state})
        tokens = services.issue_tokens(user)
        return Response({"status": state, **tokens, "user": s.MeSerializer(user, context={"request": request}).data})


class TokenRefreshView(APIView):
    """Rotate a refresh token; the old one stops working. Limited per token owner."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenOwnerThrottle]

    @extend_schema(request=s.RefreshInputSerializer, responses={200: s.TokenPairSerializer, **ERRORS}, tags=["auth"])
    def post(self, request):
        data = s.RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.rotate_refresh_token(data.validated_data["refresh"]))


class LogoutView(APIView):
    """Revoke a refresh token. Limited per token owner."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenOwnerThrottle]

    @extend_schema(request=s.RefreshInputSerializer, responses={204: None, **ERRORS}, tags=["auth"])
    def post(self, request):
        data = s.RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.logout(data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses=s.MeSerializer, tags=["users"])
    def get(self, request):
        return Response(s.MeSerializer(request.user, context={"request": request}).data)

    @extend_schema(request=s.MeUpdateInputSerializer, responses=s.MeSerializer, tags=["users"])
    def patch(self, request):
        data = s.MeUpdateInputSerializer(request.user, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.update_profile(request.user, **data.validated_data)
        return Response(s.MeSerializer(user, context={"request": request}).data)


class EnrichView(APIView):
    """Queue a social enrichment of the caller's profile; progress shows in ``enrichment.status``."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        request=None,
        responses={
            202: s.EnrichmentStatusSerializer,
            429: OpenApiResponse(description="Enriched a short while ago (RATE_LIMITED, Retry-After)"),
        },
        tags=["users"],
    )
    def post(self, request):
        request_enrichment(request.user)
        return Response(s.EnrichmentStatusSerializer(request.user).data, status=status.HTTP_202_ACCEPTED)


class AvatarView(APIView):
    permission_classes = [IsAuthenticatedUser]
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": s.AvatarInputSerializer, "application/json": s.AvatarFromUploadInputSerializer},
        responses={
            200: s.AvatarSerializer,
            413: OpenApiResponse(description="Too large"),
            415: OpenApiResponse(description="Not an image"),
        },
        description='Multipart `file`, or JSON `{"upload": id}`: a completed direct upload of purpose `avatar` '
        "(409 UPLOAD_USED when used before, 409 UPLOAD_NOT_READY before it is completed).",
        tags=["users"],
    )
    def put(self, request):
        if "upload" in request.data and "file" not in request.data:
            chosen = s.AvatarFromUploadInputSerializer(data=request.data)
            chosen.is_valid(raise_exception=True)
            user = services.set_avatar_from_upload(request.user, upload_id=chosen.validated_data["upload"])
            return Response({"avatar_url": s.avatar_url(user, request)})
        data = s.AvatarInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.set_avatar(request.user, upload=data.validated_data["file"])
        return Response({"avatar_url": s.avatar_url(user, request)})


class UserDetailView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses=s.PublicProfileSerializer, tags=["users"])
    def get(self, request, user_id: int):
        return Response(s.PublicProfileSerializer(access_user(user_id), context={"request": request}).data)
