from __future__ import annotations

import json
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
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences import selectors, services, sync
from conferences.api import serializers as s
from conferences.calendar import badge_png, conference_calendar
from conferences.models import Conference, Session, Speaker
from conferences.organizers import CanManageConference, ReadPublicWriteManager, may_manage
from ibw.api import (
    IsAuthenticatedUser,
    IsStaffRole,
    NonJSONViewMixin,
    ReadPublicWriteAdmin,
    actor,
    cache_headers,
    digest,
    etag_matches,
    make_etag,
    not_modified,
    unpaginated,
    unpaginated_schema,
)
from ibw.errors import ValidationFailed
from ibw.search import ordering_param
from users.models import User

TAGS = ["conferences"]
SESSION_SEARCH = (
    "searches title, abstract, speakers' names and track: every word (stemmed, accents ignored, the last "
    "as a prefix), by relevance unless `ordering` is given (PostgreSQL); a substring match on SQLite"
)
# How long a rendered agenda page or calendar stays cached (its key changes with the agenda anyway).
RENDER_CACHE_SECONDS = 600
CACHEABLE_AGENDA_PARAMS = {"day", "track", "room", "page", "page_size"}
logger = structlog.get_logger(__name__)


def _agenda_version_and(slug: str, key: str | None) -> tuple[int | None, str | None, Any]:
    """
    One cache read (``get_many``): the agenda version of ``slug`` (conference
    id, fingerprint; see ``selectors.remember_agenda_version``) and the value
    under ``key``. ``(None, None, None)`` when the version is not cached or
    the cache is down.
    """
    version_key = selectors.agenda_version_key(slug)
    try:
        found = cache.get_many([version_key, key] if key else [version_key])
    except Exception as exc:  # the cache is an optimisation: any backend error means "compute it"
        logger.warning("render_cache_unavailable", error=str(exc))
        return None, None, None
    version = found.get(version_key)
    if not (isinstance(version, tuple) and len(version) == 2):
        return None, None, found.get(key) if key else None
    return version[0], version[1], found.get(key) if key else None


_NOT_BOOKMARKED = b'"bookmarked":false}'
_BOOKMARKED = b'"bookmarked":true}'
# DRF's JSONRenderer output (compact, UTF-8, no NaN) for plain data, without its per-call setup.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _compact_json(data: dict) -> bytes:
    return _ENCODER.encode(data).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _page_bytes(rendered: dict, bookmarked: frozenset[int]) -> bytes:
    """An agenda page's JSON from its stored pieces, with ``bookmarked`` set for the caller's sessions."""
    chunks = [
        chunk[: -len(_NOT_BOOKMARKED)] + _BOOKMARKED if session_id in bookmarked else chunk
        for session_id, chunk in rendered["items"]
    ]
    return rendered["head"] + b",".join(chunks) + rendered["tail"]


def _cache_set(key: str, value: Any, *, timeout: int = RENDER_CACHE_SECONDS) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception as exc:  # as above
        logger.warning("render_cache_unavailable", error=str(exc))


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

    @extend_schema(request=s.ConferenceAdminSerializer, responses={201: s.ConferenceAdminSerializer})
    def post(self, request):
        data = s.ConferenceAdminSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conference = services.create_conference(**data.validated_data)
        return Response(s.ConferenceAdminSerializer(conference).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAGS)
class ConferenceDetailView(APIView):
    permission_classes = [ReadPublicWriteManager]

    @extend_schema(responses=s.ConferenceSerializer)
    def get(self, request, slug: str):
        conference = selectors.access_conference(slug)
        serializer = s.ConferenceAdminSerializer if may_manage(request, conference) else s.ConferenceSerializer
        return Response(serializer(conference).data)

    @extend_schema(request=s.ConferenceUpdateInputSerializer, responses=s.ConferenceAdminSerializer)
    def patch(self, request, slug: str):
        conference = selectors.access_conference(slug)
        data = s.ConferenceUpdateInputSerializer(conference, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        conference = services.update_conference(conference, **data.validated_data)
        return Response(s.ConferenceAdminSerializer(conference).data)


@extend_schema(tags=TAGS)
class ScheduleImportView(APIView):
    """Import a frab-compatible ``schedule.json`` (the request body) into the conference."""

    permission_classes = [CanManageConference]
    parser_classes = [JSONParser]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: s.ImportCountsSerializer, 400: OpenApiResponse(description="The file breaks the format")},
    )
    def post(self, request, slug: str):
        conference = selectors.access_conference(slug)
        return Response(services.import_schedule(conference, request.data))


@extend_schema(tags=TAGS)
class ScheduleSyncView(APIView):
    """Fetch the conference's ``schedule_url`` and import it now."""

    permission_classes = [CanManageConference]

    @extend_schema(
        request=None,
        responses={
            200: s.ImportCountsSerializer,
            409: OpenApiResponse(description="NO_SCHEDULE_URL"),
            502: OpenApiResponse(description="SCHEDULE_FETCH_FAILED: unreachable, too large, too slow or invalid"),
        },
    )
    def post(self, request, slug: str):
        conference = selectors.access_conference(slug)
        return Response(sync.sync_schedule(conference, use_etag=False))


# --- Agenda ------------------------------------------------------------------------------


@extend_schema(tags=TAGS)
class SessionListView(generics.ListAPIView):
    """
    The agenda, by start time. Answers 304 to an ``If-None-Match`` carrying
    the current ETag, which changes with the agenda (and, for a logged-in
    caller, with their bookmarks).
    """

    permission_classes = [ReadPublicWriteManager]
    serializer_class = s.SessionSerializer
    queryset = Session.objects.none()  # for the schema; get_queryset builds the real one

    @extend_schema(
        parameters=[
            OpenApiParameter("day", OpenApiTypes.DATE, description="YYYY-MM-DD in the conference's time zone"),
            OpenApiParameter("track", str, description="track id or name"),
            OpenApiParameter("room", str, description="room id or name"),
            OpenApiParameter("q", str, description=SESSION_SEARCH),
            OpenApiParameter(
                "ordering",
                str,
                enum=sorted(selectors.SESSION_ORDERINGS),
                description="with `q`: order by start time instead of relevance",
            ),
        ]
    )
    def get(self, request, slug: str):
        # A cached page for an anonymous caller is one cache read (the agenda's
        # version and the page together) and no SQL; a logged-in caller adds
        # their bookmarks (one query). The page is the same for everyone but
        # the bookmark flags: built once per agenda version and URL, the
        # caller's flags set on top. Free-text searches and unknown parameters
        # are not cached, so made-up URLs cannot fill the cache.
        self.ordering = ordering_param(request, selectors.SESSION_ORDERINGS)
        url = request.build_absolute_uri()
        cacheable = set(request.query_params) <= CACHEABLE_AGENDA_PARAMS
        page_key = f"agenda:page:{digest(slug, url)}"
        conference_id, fingerprint, hit = _agenda_version_and(slug, page_key if cacheable else None)
        self.conference = None
        if fingerprint is None:
            self.conference, fingerprint = selectors.access_conference_with_fingerprint(slug)
            conference_id = self.conference.pk
            selectors.remember_agenda_version(slug, conference_id=conference_id, fingerprint=fingerprint)
        caller = actor(request)
        bookmarked = selectors.bookmarked_session_ids(conference_id, user=caller) if caller else frozenset()
        mine = ",".join(map(str, sorted(bookmarked))) if caller else "anonymous"
        etag = make_etag("sessions", fingerprint, url, mine)
        if etag_matches(request, etag):
            return not_modified(etag, private=caller is not None)
        if isinstance(hit, dict) and hit.get("fingerprint") == fingerprint and "items" in hit:
            rendered = hit
        else:
            if self.conference is None:
                # The agenda's cached version named the conference: unless a day must be placed
                # in its time zone, its id is all a page needs (one query fewer per miss).
                cached = conference_id is not None and "day" not in request.query_params
                self.conference = (
                    Conference(pk=conference_id, slug=slug) if cached else selectors.access_conference(slug)
                )
            rendered = self._render_anonymous_page()
            if cacheable:
                _cache_set(page_key, {"fingerprint": fingerprint, **rendered})
        response = HttpResponse(_page_bytes(rendered, bookmarked), content_type="application/json")
        cache_headers(response, etag, private=caller is not None)
        return response

    def _render_anonymous_page(self) -> dict:
        """
        The page as JSON for a caller with no bookmarks, in pieces: what comes
        before the first session, each session (id, bytes), and what follows.
        Every session's JSON ends with its ``"bookmarked":false}``, so a
        caller's flags are set by joining bytes, without parsing or rendering.
        """
        params = self.request.query_params
        rows = selectors.agenda_rows(
            self.conference,
            day=_day(self.request),
            track=params.get("track"),
            room=params.get("room"),
            q=params.get("q"),
            ordering=getattr(self, "ordering", None),
        )
        page = selectors.with_speaker_rows(self.paginate_queryset(rows))
        body = self.get_paginated_response([s.session_row_representation(row) for row in page]).data
        renderer = JSONRenderer()
        empty = renderer.render({**body, "results": []})
        if not empty.endswith(b"[]}"):  # "results" is the last key of every paginated body
            raise RuntimeError("unexpected page layout")
        items = []
        for item in body["results"]:
            chunk = _compact_json(item)
            if not chunk.endswith(_NOT_BOOKMARKED):
                raise RuntimeError("unexpected session layout")
            items.append((item["id"], chunk))
        return {"head": empty[:-2], "items": items, "tail": empty[-2:]}

    def get_queryset(self):
        params = self.request.query_params
        return selectors.sessions_for_conference(
            self.conference,
            day=_day(self.request),
            track=params.get("track"),
            room=params.get("room"),
            q=params.get("q"),
            ordering=getattr(self, "ordering", None),
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
    permission_classes = [ReadPublicWriteManager]

    @extend_schema(responses=s.SessionSerializer)
    def get(self, request, slug: str, session_id: int):
        conference = selectors.access_conference(slug)
        session = selectors.access_session(conference, session_id, user=actor(request))
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
    permission_classes = [ReadPublicWriteManager]
    serializer_class = s.SpeakerSerializer
    queryset = Speaker.objects.none()  # for the schema; get_queryset builds the real one

    def get_queryset(self):
        conference = selectors.access_conference(self.kwargs["slug"])
        return selectors.speakers_for_conference(conference, q=self.request.query_params.get("q"))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                str,
                description="searches name and biography: every word, stemmed, accents ignored, the last as a "
                "prefix; by relevance (PostgreSQL), substring match on SQLite",
            )
        ]
    )
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
    permission_classes = [ReadPublicWriteManager]

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

    permission_classes = [ReadPublicWriteManager]

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
    """Admins and co-organizers rename, reorder or delete a room (its sessions stay, without a room)."""

    permission_classes = [ReadPublicWriteManager]

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

    permission_classes = [ReadPublicWriteManager]

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
    """Admins and co-organizers rename, recolour or delete a track (its sessions stay, without a track)."""

    permission_classes = [ReadPublicWriteManager]

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
        # Cached: one cache read (the agenda's version and the body), no SQL.
        host = request.get_host()
        body_key = f"ics:body:{digest(slug, host)}"
        _, fingerprint, hit = _agenda_version_and(slug, body_key)
        conference = None
        if fingerprint is None:
            conference, fingerprint = selectors.access_conference_with_fingerprint(slug)
            selectors.remember_agenda_version(slug, conference_id=conference.pk, fingerprint=fingerprint)
        etag = make_etag("ics", fingerprint, host)
        if etag_matches(request, etag):
            return not_modified(etag, private=False)
        if isinstance(hit, dict) and hit.get("fingerprint") == fingerprint:
            body = hit["body"]
        else:
            conference = conference or selectors.access_conference(slug)
            body = conference_calendar(conference, selectors.sessions_for_conference(conference), host=host)
            _cache_set(body_key, {"fingerprint": fingerprint, "body": body})
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="{slug}.ics"'
        cache_headers(response, etag, private=False)
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
class CheckInView(APIView):
    """Staff at the door, or the conference's organizers: check an attendee in by badge code (idempotent)."""

    permission_classes = [IsStaffRole | CanManageConference]

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
