"""Meeting windows, the slot finder, meetings, who-to-meet recommendations and the personal calendar feed; the rules live in ``meetings.services``."""

from __future__ import annotations

import hashlib

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences.organizers import CanManageConference
from conferences.selectors import access_conference, calendar_owner
from ibw.api import (
    IsAuthenticatedUser,
    NonJSONViewMixin,
    PageNumberPagination,
    cache_headers,
    etag_matches,
    make_etag,
    not_modified,
    unpaginated,
    unpaginated_schema,
)
from meetings import services
from meetings.api import serializers as s
from meetings.calendar import personal_calendar
from meetings.models import Meeting, MeetingWindow
from meetings.recommendations import recommendations_for
from meetings.selectors import (
    access_meeting,
    attach_conflicts,
    free_slots_for_pair,
    meeting_windows_for,
    meetings_for,
)

ERROR = OpenApiResponse(description="Error body `{error, code, details?}`")
TAGS = ["meetings"]


class MeetingWindowListCreateView(GenericAPIView):
    """A conference's meeting windows (any logged-in user); create one (admins and the conference's co-organizers)."""

    pagination_class = PageNumberPagination
    serializer_class = s.MeetingWindowSerializer
    queryset = MeetingWindow.objects.none()  # for the schema; rows come from meeting_windows_for()

    def get_permissions(self):
        if self.request.method == "POST":
            return [CanManageConference()]
        return [IsAuthenticatedUser()]

    @extend_schema(responses={200: s.MeetingWindowSerializer(many=True), 404: ERROR}, tags=TAGS)
    def get(self, request, slug: str):
        conference = access_conference(slug)
        page = self.paginate_queryset(meeting_windows_for(conference))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=s.MeetingWindowInputSerializer,
        responses={201: s.MeetingWindowSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        tags=TAGS,
    )
    def post(self, request, slug: str):
        conference = access_conference(slug)
        data = s.MeetingWindowInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        window = services.create_meeting_window(conference, **data.validated_data)
        window = meeting_windows_for(conference).get(pk=window.pk)
        return Response(self.get_serializer(window).data, status=status.HTTP_201_CREATED)


class MeetingSlotListView(APIView):
    """Slots in which neither you nor that person has an accepted meeting and a table is free."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        parameters=[s.MeetingSlotQuerySerializer],
        responses={200: unpaginated_schema(s.FreeSlotSerializer, "FreeSlotResults"), 400: ERROR, 404: ERROR},
        tags=TAGS,
    )
    def get(self, request, slug: str):
        query = s.MeetingSlotQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        conference = access_conference(slug)
        slots = free_slots_for_pair(conference, user=request.user, other_id=query.validated_data["with"])
        return unpaginated(s.FreeSlotSerializer(slots, many=True).data)


class MeetingListCreateView(GenericAPIView):
    """Your meetings, either side; request a meeting in a slot."""

    permission_classes = [IsAuthenticatedUser]
    pagination_class = PageNumberPagination
    serializer_class = s.MeetingSerializer
    queryset = Meeting.objects.none()  # for the schema; rows come from meetings_for()

    @extend_schema(parameters=[s.MeetingListFilterSerializer], responses=s.MeetingSerializer(many=True), tags=TAGS)
    def get(self, request):
        filters = s.MeetingListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(meetings_for(request.user, **filters.validated_data))
        return self.get_paginated_response(
            self.get_serializer(attach_conflicts(page, user=request.user), many=True).data
        )

    @extend_schema(
        request=s.MeetingCreateInputSerializer,
        responses={
            201: s.MeetingSerializer,
            400: ERROR,
            404: ERROR,
            409: OpenApiResponse(description="NOT_ATTENDING or ALREADY_REQUESTED"),
        },
        tags=TAGS,
    )
    def post(self, request):
        data = s.MeetingCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conference = access_conference(data.validated_data["conference"])
        meeting = services.request_meeting(
            request.user,
            conference=conference,
            with_user_id=data.validated_data["with"],
            starts_at=data.validated_data["starts_at"],
            message=data.validated_data["message"],
        )
        return Response(_body(request, meeting), status=status.HTTP_201_CREATED)


def _body(request, meeting: Meeting) -> dict:
    (meeting,) = attach_conflicts([meeting], user=request.user)
    return s.MeetingSerializer(meeting, context={"request": request}).data


class MeetingDetailView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses={200: s.MeetingSerializer, 404: ERROR}, tags=TAGS)
    def get(self, request, pk: int):
        return Response(_body(request, access_meeting(request.user, pk)))


class MeetingAcceptView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        request=None,
        responses={
            200: s.MeetingSerializer,
            403: ERROR,
            404: ERROR,
            409: OpenApiResponse(description="SLOT_TAKEN, NO_TABLE_FREE or CONFLICT"),
        },
        tags=TAGS,
    )
    def post(self, request, pk: int):
        return Response(_body(request, services.accept_meeting(request.user, meeting_id=pk)))


class MeetingDeclineView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(request=None, responses={200: s.MeetingSerializer, 403: ERROR, 404: ERROR, 409: ERROR}, tags=TAGS)
    def post(self, request, pk: int):
        return Response(_body(request, services.decline_meeting(request.user, meeting_id=pk)))


class MeetingCancelView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(request=None, responses={200: s.MeetingSerializer, 404: ERROR, 409: ERROR}, tags=TAGS)
    def post(self, request, pk: int):
        return Response(_body(request, services.cancel_meeting(request.user, meeting_id=pk)))


class RecommendationListView(APIView):
    """People to meet at a conference, best first, each with the reasons in words and a slot free for both."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        parameters=[s.RecommendationQuerySerializer],
        responses={200: s.RecommendationListSerializer, 400: ERROR, 404: ERROR},
        tags=["connections"],
    )
    def get(self, request):
        query = s.RecommendationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        conference = access_conference(query.validated_data["conference"])
        results = recommendations_for(request.user, conference=conference, limit=query.validated_data["limit"])
        return Response(s.RecommendationListSerializer({"results": results}, context={"request": request}).data)


class CalendarFeedView(NonJSONViewMixin, APIView):
    """
    A person's calendar for calendar apps, which cannot send a JWT: the secret
    in the URL is the credential. Sessions, side events and accepted
    meetings together, so it lives with meetings (the highest layer it reads).
    """

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(responses={(200, "text/calendar"): OpenApiTypes.STR})
    def get(self, request, token: str):
        body = personal_calendar(calendar_owner(token), host=request.get_host())
        etag = make_etag("feed", hashlib.sha256(body).hexdigest())
        if etag_matches(request, etag):
            return not_modified(etag, private=True)
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        cache_headers(response, etag, private=True)
        return response
