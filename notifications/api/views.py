from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ibw.api import IsAdmin, IsAuthenticatedUser, actor
from notifications import selectors, services
from notifications.api import serializers as s
from notifications.models import Notification

ERRORS = {
    401: OpenApiResponse(description="Error body: NOT_AUTHENTICATED / INVALID_TOKEN"),
    404: OpenApiResponse(description="Error body: NOT_FOUND"),
}
ADMIN_ERRORS = {
    400: OpenApiResponse(description="Error body: VALIDATION_ERROR"),
    401: OpenApiResponse(description="Error body: NOT_AUTHENTICATED"),
    403: OpenApiResponse(description="Error body: PERMISSION_DENIED"),
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


class BroadcastPreviewView(APIView):
    """How many people an audience reaches right now."""

    permission_classes = [IsAdmin]

    @extend_schema(
        request=s.BroadcastPreviewInputSerializer,
        responses={200: s.BroadcastPreviewSerializer, **ADMIN_ERRORS},
        tags=["broadcasts"],
    )
    def post(self, request):
        data = s.BroadcastPreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"total": services.preview_audience(data.validated_data["audience"])})


class BroadcastListCreateView(generics.ListAPIView):
    permission_classes = [IsAdmin]
    serializer_class = s.BroadcastSerializer

    def get_queryset(self):
        return selectors.broadcasts()

    @extend_schema(tags=["broadcasts"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.BroadcastCreateInputSerializer,
        responses={201: s.BroadcastSerializer, **ADMIN_ERRORS},
        tags=["broadcasts"],
    )
    def post(self, request):
        data = s.BroadcastCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created_by = actor(request)
        broadcast = services.create_broadcast(**data.validated_data, created_by=created_by)
        return Response(s.BroadcastSerializer(broadcast).data, status=status.HTTP_201_CREATED)


class BroadcastDetailView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses={200: s.BroadcastSerializer, **ADMIN_ERRORS, 404: ERRORS[404]}, tags=["broadcasts"])
    def get(self, request, pk: int):
        return Response(s.BroadcastSerializer(selectors.access_broadcast(pk)).data)


class BroadcastCancelView(APIView):
    """Stop a broadcast: what has not been sent yet is not sent; 409 when it already finished."""

    permission_classes = [IsAdmin]

    @extend_schema(
        request=None,
        responses={200: s.BroadcastSerializer, 409: OpenApiResponse(description="BROADCAST_FINISHED"), **ADMIN_ERRORS},
        tags=["broadcasts"],
    )
    def post(self, request, pk: int):
        broadcast = services.cancel_broadcast(selectors.access_broadcast(pk))
        return Response(s.BroadcastSerializer(broadcast).data)
