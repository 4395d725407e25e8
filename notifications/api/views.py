from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from ibw.api import IsAuthenticatedUser
from notifications import selectors, services
from notifications.api import serializers as s
from notifications.models import Notification

ERRORS = {
    401: OpenApiResponse(description="Error body: NOT_AUTHENTICATED / INVALID_TOKEN"),
    404: OpenApiResponse(description="Error body: NOT_FOUND"),
}


class NotificationListView(generics.ListAPIView):
    """The caller's notifications, newest first."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = s.NotificationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Notification.objects.none()
        unread = self.request.query_params.get("unread", "").lower() in ("true", "1", "yes")
        return selectors.notifications_for(self.request.user, unread=unread)

    @extend_schema(
        parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL, description="Only notifications not yet read.")],
        tags=["notifications"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class UnreadCountView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses={200: s.UnreadCountSerializer, **ERRORS}, tags=["notifications"])
    def get(self, request):
        return Response({"count": selectors.unread_count(request.user)})


class NotificationReadView(APIView):
    """Mark one of the caller's notifications read (idempotent); another user's is 404."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(request=None, responses={200: s.NotificationSerializer, **ERRORS}, tags=["notifications"])
    def post(self, request, pk: int):
        notification = selectors.access_notification(request.user, pk)
        notification = services.mark_notification_read(notification)
        return Response(s.NotificationSerializer(notification).data)


class NotificationReadAllView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(request=None, responses={200: s.ReadAllSerializer, **ERRORS}, tags=["notifications"])
    def post(self, request):
        return Response({"updated": services.mark_all_read(request.user)})
