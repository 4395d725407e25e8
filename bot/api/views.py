from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from bot import services
from bot.api import serializers as s

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramWebhookView(APIView):
    """
    Telegram delivers bot updates here. Accepting an update records its id
    and queues the work, so the answer is fast and a repeated delivery is
    acknowledged without acting twice. Not throttled: Telegram is the caller.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes = [JSONParser]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        parameters=[OpenApiParameter(SECRET_HEADER, str, OpenApiParameter.HEADER, required=True)],
        responses={
            200: s.WebhookAckSerializer,
            400: OpenApiResponse(description="Not a Telegram update"),
            403: OpenApiResponse(description="Missing or wrong secret token (PERMISSION_DENIED)"),
        },
        auth=[],
        tags=["integrations"],
    )
    def post(self, request):
        services.check_webhook_secret(request.headers.get(SECRET_HEADER))
        data = s.TelegramUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.accept_update(request.data)
        return Response({"ok": True})
