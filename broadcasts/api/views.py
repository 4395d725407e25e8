from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from broadcasts import audiences, selectors, services
from broadcasts.api import serializers as s
from broadcasts.models import Broadcast
from conferences.organizers import IsAdminOrCoOrganizer, check_manages, managed_conference_slugs
from ibw.api import actor, is_admin

NOT_FOUND = {404: OpenApiResponse(description="Error body: NOT_FOUND")}
ADMIN_ERRORS = {
    400: OpenApiResponse(description="Error body: VALIDATION_ERROR"),
    401: OpenApiResponse(description="Error body: NOT_AUTHENTICATED"),
    403: OpenApiResponse(description="Error body: PERMISSION_DENIED"),
}


def _check_audience(request, audience: dict) -> None:
    """A co-organizer reaches only people of a conference they organize; everyone at once is for admins."""
    check_manages(request, slug=audience.get("conference") or None)


def _access_broadcast(request, pk: int) -> Broadcast:
    """The broadcast, or 404; 403 for a co-organizer when its audience is not their conference's."""
    broadcast = selectors.access_broadcast(pk)
    _check_audience(request, broadcast.audience)
    return broadcast


class BroadcastPreviewView(APIView):
    """How many people an audience reaches right now."""

    permission_classes = [IsAdminOrCoOrganizer]

    @extend_schema(
        request=s.BroadcastPreviewInputSerializer,
        responses={200: s.BroadcastPreviewSerializer, **ADMIN_ERRORS},
        tags=["broadcasts"],
    )
    def post(self, request):
        data = s.BroadcastPreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _check_audience(request, data.validated_data["audience"])
        return Response({"total": audiences.preview_audience(data.validated_data["audience"])})


class BroadcastListCreateView(generics.ListAPIView):
    permission_classes = [IsAdminOrCoOrganizer]
    serializer_class = s.BroadcastSerializer

    def get_queryset(self):
        if is_admin(self.request):
            return selectors.broadcasts()
        return selectors.broadcasts(conference_slugs=managed_conference_slugs(self.request.user))

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
        _check_audience(request, data.validated_data["audience"])
        created_by = actor(request)
        broadcast = services.create_broadcast(**data.validated_data, created_by=created_by)
        return Response(s.BroadcastSerializer(broadcast).data, status=status.HTTP_201_CREATED)


class BroadcastDetailView(APIView):
    permission_classes = [IsAdminOrCoOrganizer]

    @extend_schema(responses={200: s.BroadcastSerializer, **ADMIN_ERRORS, **NOT_FOUND}, tags=["broadcasts"])
    def get(self, request, pk: int):
        return Response(s.BroadcastSerializer(_access_broadcast(request, pk)).data)


class BroadcastCancelView(APIView):
    """Stop a broadcast: what has not been sent yet is not sent; 409 when it already finished."""

    permission_classes = [IsAdminOrCoOrganizer]

    @extend_schema(
        request=None,
        responses={200: s.BroadcastSerializer, 409: OpenApiResponse(description="BROADCAST_FINISHED"), **ADMIN_ERRORS},
        tags=["broadcasts"],
    )
    def post(self, request, pk: int):
        broadcast = services.cancel_broadcast(_access_broadcast(request, pk))
        return Response(s.BroadcastSerializer(broadcast).data)
