"""Connections, badge scans, blocking and the attendee directory; the rules live in ``connections.services``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences.selectors import access_conference
from connections import services
from connections.api import serializers as s
from connections.models import Connection
from connections.selectors import access_connection, attendees_directory, connections_for
from ibw.api import IsAuthenticatedUser, PageNumberPagination
from users.api.serializers import PublicProfileSerializer
from users.models import User

ERROR = OpenApiResponse(description="Error body `{error, code, details?}`")
TAGS = ["connections"]


class ConnectionListCreateView(GenericAPIView):
    """Your connections and requests; ask someone to connect."""

    permission_classes = [IsAuthenticatedUser]
    pagination_class = PageNumberPagination
    serializer_class = s.ConnectionSerializer
    queryset = Connection.objects.none()  # for the schema; rows come from connections_for()

    @extend_schema(
        parameters=[s.ConnectionListFilterSerializer], responses=s.ConnectionSerializer(many=True), tags=TAGS
    )
    def get(self, request):
        filters = s.ConnectionListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(connections_for(request.user, **filters.validated_data))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=s.ConnectionCreateInputSerializer,
        responses={
            201: s.ConnectionSerializer,
            200: OpenApiResponse(s.ConnectionSerializer, description="Their request to you was accepted instead"),
            400: ERROR,
            404: ERROR,
            409: OpenApiResponse(description="ALREADY_CONNECTED or CONNECTION_DECLINED"),
        },
        tags=TAGS,
    )
    def post(self, request):
        data = s.ConnectionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection, created = services.request_connection(
            request.user, to_user_id=data.validated_data["to_user"], message=data.validated_data["message"]
        )
        return Response(
            self.get_serializer(connection).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ConnectionScanView(APIView):
    """Connect at once with the person whose conference badge you scanned."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        request=s.ConnectionScanInputSerializer,
        responses={
            201: s.ConnectionSerializer,
            200: OpenApiResponse(s.ConnectionSerializer, description="Already connected"),
            400: ERROR,
            404: ERROR,
        },
        tags=TAGS,
    )
    def post(self, request):
        data = s.ConnectionScanInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection, created = services.scan_badge(request.user, badge_code=data.validated_data["badge_code"])
        body = s.ConnectionSerializer(connection, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ConnectionDetailView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses={200: s.ConnectionSerializer, 404: ERROR}, tags=TAGS)
    def get(self, request, pk: int):
        connection = access_connection(request.user, pk)
        return Response(s.ConnectionSerializer(connection, context={"request": request}).data)

    @extend_schema(responses={204: None, 404: ERROR}, tags=TAGS)
    def delete(self, request, pk: int):
        services.remove_connection(request.user, connection_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectionAcceptView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(request=None, responses={200: s.ConnectionSerializer, 404: ERROR}, tags=TAGS)
    def post(self, request, pk: int):
        connection = services.accept_connection(request.user, connection_id=pk)
        return Response(s.ConnectionSerializer(connection, context={"request": request}).data)


class ConnectionDeclineView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(request=None, responses={200: s.ConnectionSerializer, 404: ERROR, 409: ERROR}, tags=TAGS)
    def post(self, request, pk: int):
        connection = services.decline_connection(request.user, connection_id=pk)
        return Response(s.ConnectionSerializer(connection, context={"request": request}).data)


class UserBlockView(APIView):
    """Block someone: neither of you can request, scan or see the other in listings."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        request=None,
        responses={
            201: s.BlockSerializer,
            200: OpenApiResponse(s.BlockSerializer, description="Already blocked"),
            400: ERROR,
            404: ERROR,
        },
        tags=["users"],
    )
    def post(self, request, user_id: int):
        block, created = services.block_user(request.user, target_id=user_id)
        return Response(
            s.BlockSerializer(block).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(responses={204: None, 404: ERROR}, tags=["users"])
    def delete(self, request, user_id: int):
        services.unblock_user(request.user, target_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["conferences"])
class AttendeeListView(generics.ListAPIView):
    """People at the conference who chose to be listed; blocked people on either side are left out."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = PublicProfileSerializer
    queryset = User.objects.none()  # for the schema; get_queryset builds the real one

    def get_queryset(self):
        conference = access_conference(self.kwargs["slug"])
        return attendees_directory(conference, viewer=self.request.user, q=self.request.query_params.get("q"))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                str,
                description="searches name, company, job title and interests: every word (stemmed, accents "
                "ignored, the last as a prefix), by relevance (PostgreSQL); a substring match on SQLite",
            )
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
