from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from typing import Any

import structlog
from django.core.cache import cache
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences import selectors, services
from conferences.api import serializers as s
from conferences.calendar import CalendarItem, badge_png, conference_calendar, render_calendar, session_item
from conferences.models import Session, Speaker
from events.calendar import event_item
from events.selectors import rsvps_for_calendar
from ibw.api import (
    IsAdmin,
    IsAuthenticatedUser,
    IsStaffRole,
    ReadPublicWriteAdmin,
    actor,
    unpaginated,
    unpaginated_schema,
)
from ibw.errors import ValidationFailed
from users.api.serializers import PublicProfileSerializer
from users.models import User

TAGS = ["conferences"]
# How long a rendered agenda page or calendar stays cached (its key changes with the agenda anyway).
RENDER_CACHE_SECONDS = 600
CACHEABLE_AGENDA_PARAMS = {"day", "track", "room", "page", "page_size"}
logger = structlog.get_logger(__name__)


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
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]


def make_etag(*parts: object) -> str:
    return f'"{digest(*parts)}"'


def etag_matches(request, etag: str) -> bool:
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def not_modified(etag: str, *, private: bool) -> HttpResponse:
    response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
    _cache_headers(response, etag, private=private)
    return response


def _cache_headers(response, etag: str, *, private: bool) -> None:
    response["ETag"] = etag
    # Clients may keep the answer but must ask again (cheaply, with If-None-Match) before using it.
    response["Cache-Control"] = "private, no-cache" if private else "public, no-cache"
    response["Vary"] = "Authorization, Accept-Encoding"


def cached(key: str, compute: Callable[[], Any], *, timeout: int = RENDER_CACHE_SECONDS) -> Any:
    """
    Return ``compute()``, kept in the cache under ``key``. Keys embed the
    agenda fingerprint, so a change is a new key and nothing needs
    invalidating. A cache outage only costs the recomputation.
    """
    try:
        hit = cache.get(key)
    except Exception as exc:  # the cache is an optimisation: any backend error means "compute it"
        logger.warning("render_cache_unavailable", error=str(exc))
        return compute()
    if hit is not None:
        return hit
    value = compute()
    try:
        cache.set(key, value, timeout)
    except Exception as exc:  # as above
        logger.warning("render_cache_unavailable", error=str(exc))
    return value


def _caller(request) -> User | None:
    return request.user if request.user.is_authenticated else None


def _day(request) -> date | None:
    value = request.query_params.get("day")
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("day: use the form YYYY-MM-DD.", details={"day": ["Use the form YYYY-MM-DD."]}) from None


# --- Conferences -----------------------------------------------------------------------


@extend_schema(tags=TAGS)
class ConferenceListView(generics.ListAPIView):
    """Conferences by start date; admins create them."""

    permission_classes = [ReadPublicWriteAdmin]
    serializer_class = s.ConferenceSerializer

    def get_queryset(self):
        return selectors.conferences()

    @extend_schema(request=s.ConferenceSerializer, responses={201: s.ConferenceSerializer})
    def post(self, request):
        data = s.ConferenceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conference = services.create_conference(**data.validated_data)
        return Response(s.ConferenceSerializer(conference).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAGS)
class ConferenceDetailView(APIView):
    permission_classes = [ReadPublicWriteAdmin]

    @extend_schema(responses=s.ConferenceSerializer)
    def get(self, request, slug: str):
        return Response(s.ConferenceSerializer(selectors.access_conference(slug)).data)

    @extend_schema(request=s.ConferenceUpdateInputSerializer, responses=s.ConferenceSerializer)
    def patch(self, request, slug: str):
        conference = selectors.access_conference(slug)
        data = s.ConferenceUpdateInputSerializer(conference, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        conference = services.update_conference(conference, **data.validated_data)
        return Response(s.ConferenceSerializer(conference).data)


@extend_schema(tags=TAGS)
class ScheduleImportView(APIView):
    """Import a frab-compatible ``schedule.json`` (the request body) into the conference."""

    permission_classes = [IsAdmin]
    parser_classes = [JSONParser]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: s.ImportCountsSerializer, 400: OpenApiResponse(description="The file breaks the format")},
    )
    def post(self, request, slug: str):
        conference = selectors.access_conference(slug)
        return Response(services.import_schedule(conference, request.data))


# --- Agenda ------------------------------------------------------------------------------


@extend_schema(tags=TAGS)
class SessionListView(generics.ListAPIView):
    """
    The agenda, by start time. Answers 304 to an ``If-None-Match`` carrying
    the current ETag, which changes with the agenda (and, for a logged-in
    caller, with their bookmarks).
    """

    permission_classes = [ReadPublicWriteAdmin]
    serializer_class = s.SessionSerializer
    queryset = Session.objects.none()  # for the schema; get_queryset builds the real one

    @extend_schema(
        parameters=[
            OpenApiParameter("day", OpenApiTypes.DATE, description="YYYY-MM-DD in the conference's time zone"),
            OpenApiParameter("track", str, description="track id or name"),
            OpenApiParameter("room", str, description="room id or name"),
            OpenApiParameter("q", str, description="searches title, abstract, description, speaker names"),
        ]
    )
    def get(self, request, slug: str):
        self.conference, fingerprint = selectors.access_conference_with_fingerprint(slug)
        caller = _caller(request)
        bookmarked = selectors.bookmarked_session_ids(self.conference, user=caller) if caller else frozenset()
        url = request.build_absolute_uri()
        mine = ",".join(map(str, sorted(bookmarked))) if caller else "anonymous"
        etag = make_etag("sessions", fingerprint, url, mine)
        if etag_matches(request, etag):
            return not_modified(etag, private=caller is not None)
        # The page is the same for everyone but the bookmark flags: build it
        # once per agenda version and URL, and set the caller's flags on top.
        # Free-text searches and unknown parameters are not cached, so
        # made-up URLs cannot fill the cache.
        if set(request.query_params) <= CACHEABLE_AGENDA_PARAMS:
            key = f"agenda:{self.conference.pk}:{digest(fingerprint, url)}"
            page = cached(key, self._anonymous_page)
        else:
            page = self._anonymous_page()
        results = [{**item, "bookmarked": item["id"] in bookmarked} for item in page["results"]]
        response = Response({**page, "results": results})
        _cache_headers(response, etag, private=caller is not None)
        return response

    def _anonymous_page(self) -> dict:
        sessions = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        body = self.get_paginated_response(self.get_serializer(sessions, many=True).data).data
        return {**body, "results": [dict(item) for item in body["results"]]}

    def get_queryset(self):
        params = self.request.query_params
        return selectors.sessions_for_conference(
            self.conference,
            day=_day(self.request),
            track=params.get("track"),
            room=params.get("room"),
            q=params.get("q"),
        )

    @extend_schema(request=s.SessionWriteInputSerializer, responses={201: s.SessionSerializer})
    def post(self, request, slug: str):
        conference = selectors.access_conference(slug)
        data = s.SessionWriteInputSerializer(data=request.data, context={"conference": conference})
        data.is_valid(raise_exception=True)
        session = services.create_session(conference, **data.validated_data)
        session = selectors.access_session(conference, session.pk)
        return Response(s.SessionSerializer(session).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAGS)
class SessionDetailView(APIView):
    permission_classes = [ReadPublicWriteAdmin]

    @extend_schema(responses=s.SessionSerializer)
    def get(self, request, slug: str, session_id: int):
        conference = selectors.access_conference(slug)
        session = selectors.access_session(conference, session_id, user=_caller(request))
        return Response(s.SessionSerializer(session).data)

    @extend_schema(request=s.SessionWriteInputSerializer, responses=s.SessionSerializer)
    def patch(self, request, slug: str, session_id: int):
        conference = selectors.access_conference(slug)
        session = selectors.access_session(conference, session_id)
        data = s.SessionWriteInputSerializer(
            data=request.data, partial=True, context={"conference": conference, "session": session}
        )
        data.is_valid(raise_exception=True)
        services.update_session(session, **data.validated_data)
        return Response(s.SessionSerializer(selectors.access_session(conference, session_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str, session_id: int):
        conference = selectors.access_conference(slug)
        services.delete_session(selectors.access_session(conference, session_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAGS)
class SessionBookmarkView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(request=None, responses={200: s.SessionSerializer, 201: s.SessionSerializer})
    def post(self, request, slug: str, session_id: int):
        conference = selectors.access_conference(slug)
        session = selectors.access_session(conference, session_id)
        _, created = services.bookmark_session(session, user=request.user)
        session = selectors.access_session(conference, session_id, user=request.user)
        return Response(
            s.SessionSerializer(session).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str, session_id: int):
        conference = selectors.access_conference(slug)
        services.unbookmark_session(selectors.access_session(conference, session_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAGS)
class MyAgendaView(APIView):
    """The caller's bookmarked sessions by time; ``conflicts_with`` names the overlapping ones."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses=unpaginated_schema(s.MyAgendaSessionSerializer))
    def get(self, request, slug: str):
        conference = selectors.access_conference(slug)
        sessions = selectors.bookmarked_sessions(conference, user=request.user)
        return unpaginated(s.MyAgendaSessionSerializer(sessions, many=True).data)


@extend_schema(tags=TAGS)
class SpeakerListView(generics.ListAPIView):
    permission_classes = [ReadPublicWriteAdmin]
    serializer_class = s.SpeakerSerializer
    queryset = Speaker.objects.none()  # for the schema; get_queryset builds the real one

    def get_queryset(self):
        conference = selectors.access_conference(self.kwargs["slug"])
        return selectors.speakers_for_conference(conference, q=self.request.query_params.get("q"))

    @extend_schema(parameters=[OpenApiParameter("q", str, description="searches speaker names")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.SpeakerWriteInputSerializer, responses={201: s.SpeakerSerializer})
    def post(self, request, slug: str):
        conference = selectors.access_conference(slug)
        data = s.SpeakerWriteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        speaker = services.create_speaker(conference, **data.validated_data)
        return Response(s.SpeakerSerializer(speaker).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAGS)
class SpeakerDetailView(APIView):
    permission_classes = [ReadPublicWriteAdmin]

    @extend_schema(responses=s.SpeakerDetailSerializer)
    def get(self, request, slug: str, speaker_id: int):
        conference = selectors.access_conference(slug)
        return Response(s.SpeakerDetailSerializer(selectors.access_speaker(conference, speaker_id)).data)

    @extend_schema(request=s.SpeakerWriteInputSerializer, responses=s.SpeakerDetailSerializer)
    def patch(self, request, slug: str, speaker_id: int):
        conference = selectors.access_conference(slug)
        speaker = selectors.access_speaker(conference, speaker_id)
        data = s.SpeakerWriteInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.update_speaker(speaker, **data.validated_data)
        return Response(s.SpeakerDetailSerializer(selectors.access_speaker(conference, speaker_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str, speaker_id: int):
        conference = selectors.access_conference(slug)
        services.delete_speaker(selectors.access_speaker(conference, speaker_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAGS)
class RoomListView(APIView):
    """Unpaginated: the conference's rooms, for the agenda's room filter."""

    permission_classes = [ReadPublicWriteAdmin]

    @extend_schema(responses=unpaginated_schema(s.RoomSerializer))
    def get(self, request, slug: str):
        conference = selectors.access_conference(slug)
        return unpaginated(s.RoomSerializer(selectors.rooms_for_conference(conference), many=True).data)

    @extend_schema(request=s.RoomWriteInputSerializer, responses={201: s.RoomSerializer})
    def post(self, request, slug: str):
        conference = selectors.access_conference(slug)
        data = s.RoomWriteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room = services.create_room(conference, **data.validated_data)
        return Response(s.RoomSerializer(room).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAGS)
class RoomDetailView(APIView):
    """Admins rename, reorder or delete a room (its sessions stay, without a room)."""

    permission_classes = [ReadPublicWriteAdmin]

    @extend_schema(operation_id="conferences_room_retrieve", responses=s.RoomSerializer)
    def get(self, request, slug: str, room_id: int):
        conference = selectors.access_conference(slug)
        return Response(s.RoomSerializer(selectors.access_room(conference, room_id)).data)

    @extend_schema(request=s.RoomWriteInputSerializer, responses=s.RoomSerializer)
    def patch(self, request, slug: str, room_id: int):
        conference = selectors.access_conference(slug)
        room = selectors.access_room(conference, room_id)
        data = s.RoomWriteInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(s.RoomSerializer(services.update_room(room, **data.validated_data)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str, room_id: int):
        conference = selectors.access_conference(slug)
        services.delete_room(selectors.access_room(conference, room_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAGS)
class TrackListView(APIView):
    """Unpaginated: the conference's tracks, for the agenda's track filter."""

    permission_classes = [ReadPublicWriteAdmin]

    @extend_schema(responses=unpaginated_schema(s.TrackSerializer))
    def get(self, request, slug: str):
        conference = selectors.access_conference(slug)
        return unpaginated(s.TrackSerializer(selectors.tracks_for_conference(conference), many=True).data)

    @extend_schema(request=s.TrackWriteInputSerializer, responses={201: s.TrackSerializer})
    def post(self, request, slug: str):
        conference = selectors.access_conference(slug)
        data = s.TrackWriteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        track = services.create_track(conference, **data.validated_data)
        return Response(s.TrackSerializer(track).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAGS)
class TrackDetailView(APIView):
    """Admins rename, recolour or delete a track (its sessions stay, without a track)."""

    permission_classes = [ReadPublicWriteAdmin]

    @extend_schema(operation_id="conferences_track_retrieve", responses=s.TrackSerializer)
    def get(self, request, slug: str, track_id: int):
        conference = selectors.access_conference(slug)
        return Response(s.TrackSerializer(selectors.access_track(conference, track_id)).data)

    @extend_schema(request=s.TrackWriteInputSerializer, responses=s.TrackSerializer)
    def patch(self, request, slug: str, track_id: int):
        conference = selectors.access_conference(slug)
        track = selectors.access_track(conference, track_id)
        data = s.TrackWriteInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(s.TrackSerializer(services.update_track(track, **data.validated_data)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str, track_id: int):
        conference = selectors.access_conference(slug)
        services.delete_track(selectors.access_track(conference, track_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAGS)
class ScheduleIcsView(NonJSONViewMixin, APIView):
    """The whole agenda as iCalendar (one VEVENT per session), with ETag / 304."""

    permission_classes = [ReadPublicWriteAdmin]

    @extend_schema(responses={(200, "text/calendar"): OpenApiTypes.STR})
    def get(self, request, slug: str):
        conference, fingerprint = selectors.access_conference_with_fingerprint(slug)
        host = request.get_host()
        etag = make_etag("ics", fingerprint, host)
        if etag_matches(request, etag):
            return not_modified(etag, private=False)
        body = cached(
            f"ics:{conference.pk}:{digest(fingerprint, host)}",
            lambda: conference_calendar(conference, selectors.sessions_for_conference(conference), host=host),
        )
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="{conference.slug}.ics"'
        _cache_headers(response, etag, private=False)
        return response


# --- Attendance ----------------------------------------------------------------------------


@extend_schema(tags=TAGS)
class AttendanceView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses=s.AttendanceSerializer)
    def get(self, request, slug: str):
        conference = selectors.access_conference(slug)
        return Response(s.AttendanceSerializer(selectors.access_attendance(conference, user=request.user)).data)

    @extend_schema(request=None, responses={200: s.AttendanceSerializer, 201: s.AttendanceSerializer})
    def post(self, request, slug: str):
        conference = selectors.access_conference(slug)
        attendance, created = services.register_attendee(conference, user=request.user)
        return Response(
            s.AttendanceSerializer(attendance).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


@extend_schema(tags=TAGS)
class BadgeView(NonJSONViewMixin, APIView):
    """The caller's badge code as a QR code (PNG)."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, slug: str):
        conference = selectors.access_conference(slug)
        attendance = selectors.access_attendance(conference, user=request.user)
        response = HttpResponse(badge_png(attendance.badge_code), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


@extend_schema(tags=TAGS)
class AttendeeListView(generics.ListAPIView):
    """People at the conference who chose to be listed; blocked people on either side are left out."""

    permission_classes = [IsAuthenticatedUser]
    serializer_class = PublicProfileSerializer
    queryset = User.objects.none()  # for the schema; get_queryset builds the real one

    def get_queryset(self):
        conference = selectors.access_conference(self.kwargs["slug"])
        return selectors.attendees_directory(conference, viewer=self.request.user, q=self.request.query_params.get("q"))

    @extend_schema(parameters=[OpenApiParameter("q", str, description="searches name, company, title, interests")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=TAGS)
class CheckInView(APIView):
    """Staff at the door: check an attendee in by badge code (idempotent)."""

    permission_classes = [IsStaffRole]

    @extend_schema(request=s.CheckInInputSerializer, responses={200: s.AttendanceSerializer})
    def post(self, request, slug: str):
        conference = selectors.access_conference(slug)
        data = s.CheckInInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attendance = services.check_in_attendee(
            conference, badge_code=data.validated_data["badge_code"], by=actor(request)
        )
        return Response(s.AttendanceSerializer(attendance).data)


# --- Personal calendar feed -------------------------------------------------------------------


def _feed_url(request, user: User) -> str:
    return request.build_absolute_uri(reverse("calendar-feed", kwargs={"token": user.calendar_token}))


@extend_schema(tags=["users"])
class MyCalendarView(APIView):
    """The caller's personal ICS feed URL (bookmarked sessions, RSVPed events); POST rotates its secret."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(responses=s.CalendarUrlSerializer)
    def get(self, request):
        return Response({"url": _feed_url(request, request.user)})

    @extend_schema(request=None, responses=s.CalendarUrlSerializer)
    def post(self, request):
        services.rotate_calendar_token(request.user)
        return Response({"url": _feed_url(request, request.user)})


@extend_schema(tags=["users"])
class CalendarFeedView(NonJSONViewMixin, APIView):
    """A person's calendar for calendar apps, which cannot send a JWT: the secret in the URL is the credential."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(responses={(200, "text/calendar"): OpenApiTypes.STR})
    def get(self, request, token: str):
        user = selectors.calendar_owner(token)
        host = request.get_host()
        items: list[CalendarItem] = [
            session_item(session, host=host) for session in selectors.bookmarked_sessions_for_feed(user)
        ]
        items += [event_item(rsvp.event, rsvp_status=rsvp.status, host=host) for rsvp in rsvps_for_calendar(user)]
        items.sort(key=lambda item: item.starts_at)
        body = render_calendar(f"IBW: {user.get_display_name() or 'my agenda'}", items)
        etag = make_etag("feed", hashlib.sha256(body).hexdigest())
        if etag_matches(request, etag):
            return not_modified(etag, private=True)
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        _cache_headers(response, etag, private=True)
        return response
