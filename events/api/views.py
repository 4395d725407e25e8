from __future__ import annotations

from datetime import datetime, time

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences.organizers import check_manages, organizes, organizes_any
from events import selectors, services
from events.api import serializers as s
from events.models import RSVP
from ibw.api import (
    IsAuthenticatedUser,
    IsOrganizer,
    IsUserOrAdmin,
    actor,
    is_admin,
)
from ibw.errors import ValidationFailed
from ibw.search import ordering_param

TAGS = ["events"]


class IsHostOrAdmin(IsUserOrAdmin):
    """The event's host, an admin, or a co-organizer of the event's conference."""

    message = "Only the event's host, its conference's organizers or an admin may do this."

    def has_object_permission(self, request, view, event) -> bool:
        if is_admin(request) or (event.host_id is not None and event.host_id == request.user.pk):
            return True
        return event.conference_id is not None and organizes(request.user, event.conference)


class CreatesEvents(IsOrganizer):
    """
    Organizers (the role) and admins create any side event; a co-organizer
    creates them for their conferences only (the view checks the body's
    ``conference`` with ``check_manages``).
    """

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) or organizes_any(request.user)


def _check_conference_of(request, conference) -> None:
    """A co-organizer (not host, organizer or admin) may set only a conference they co-organize."""
    check_manages(request, conference_id=conference.pk if conference is not None else None)


def _moment(request, name: str) -> datetime | None:
    """A query parameter as an aware datetime; a bare date means its midnight in the server's zone."""
    value = request.query_params.get(name)
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None and (day := parse_date(value)) is not None:
        moment = datetime.combine(day, time.min)
    if moment is None:
        raise ValidationFailed(
            f"{name}: use an ISO 8601 date or date-time.", details={name: ["Use an ISO 8601 date or date-time."]}
        )
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


@extend_schema(tags=TAGS)
class EventListView(generics.ListAPIView):
    """Side events by start time; organizers and admins create them (the caller hosts)."""

    serializer_class = s.EventSerializer

    def get_permissions(self):
        if self.request.method == "POST":
            return [CreatesEvents()]
        return [permissions.AllowAny()]

    def get_queryset(self):
        params = self.request.query_params
        return selectors.events_list(
            user=actor(self.request),
            conference=params.get("conference"),
            starts_after=_moment(self.request, "starts_after"),
            starts_before=_moment(self.request, "starts_before"),
            q=params.get("q"),
            ordering=ordering_param(self.request, selectors.EVENT_ORDERINGS),
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("conference", str, description="conference slug"),
            OpenApiParameter("starts_after", str, description="ISO 8601 date or date-time (inclusive)"),
            OpenApiParameter("starts_before", str, description="ISO 8601 date or date-time (exclusive)"),
            OpenApiParameter(
                "q",
                str,
                description="searches title, description and location: every word (stemmed, accents ignored, "
                "the last as a prefix), by relevance unless `ordering` is given (PostgreSQL); a substring match "
                "on SQLite",
            ),
            OpenApiParameter(
                "ordering",
                str,
                enum=sorted(selectors.EVENT_ORDERINGS),
                description="with `q`: order by start time instead of relevance",
            ),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.EventWriteInputSerializer, responses={201: s.EventSerializer})
    def post(self, request):
        data = s.EventWriteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not IsOrganizer().has_permission(request, self):
            _check_conference_of(request, data.validated_data.get("conference"))
        event = services.create_event(host=actor(request), **data.validated_data)
        event = selectors.access_event(event.pk, user=actor(request))
        return Response(s.EventSerializer(event).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAGS)
class EventDetailView(APIView):
    def get_permissions(self):
        if self.request.method in permissions.SAFE_METHODS:
            return [permissions.AllowAny()]
        return [IsHostOrAdmin()]

    @extend_schema(responses=s.EventSerializer)
    def get(self, request, event_id: int):
        return Response(s.EventSerializer(selectors.access_event(event_id, user=actor(request))).data)

    @extend_schema(request=s.EventWriteInputSerializer, responses=s.EventSerializer)
    def patch(self, request, event_id: int):
        event = selectors.access_event(event_id)
        self.check_object_permissions(request, event)
        data = s.EventWriteInputSerializer(data=request.data, partial=True, context={"event": event})
        data.is_valid(raise_exception=True)
        is_host = event.host_id is not None and event.host_id == request.user.pk
        if "conference" in data.validated_data and not (is_host or is_admin(request)):
            # A co-organizer may not move an event out of their conferences.
            _check_conference_of(request, data.validated_data["conference"])
        services.update_event(event, **data.validated_data)
        return Response(s.EventSerializer(selectors.access_event(event_id, user=actor(request))).data)

    @extend_schema(responses={204: None})
    def delete(self, request, event_id: int):
        event = selectors.access_event(event_id)
        self.check_object_permissions(request, event)
        services.delete_event(event)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAGS)
class EventMessageView(APIView):
    """The host (or an admin) messages the event's guests; 5 a day per event."""

    permission_classes = [IsHostOrAdmin]

    @extend_schema(request=s.EventMessageInputSerializer, responses={201: s.EventMessageResultSerializer})
    def post(self, request, event_id: int):
        event = selectors.access_event(event_id)
        self.check_object_permissions(request, event)
        data = s.EventMessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        count = services.message_guests(event, sender=actor(request), **data.validated_data)
        return Response({"recipients": count}, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAGS)
class EventRSVPView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(request=None, responses={200: s.RSVPSerializer, 201: s.RSVPSerializer})
    def post(self, request, event_id: int):
        event = selectors.access_event(event_id)
        rsvp, created = services.rsvp_event(event, user=request.user)
        return Response(s.RSVPSerializer(rsvp).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses={204: None})
    def delete(self, request, event_id: int):
        services.cancel_rsvp(selectors.access_event(event_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAGS)
class EventRSVPListView(generics.ListAPIView):
    """The guest list, for the host or an admin: going first, then the waitlist in order."""

    permission_classes = [IsHostOrAdmin]
    serializer_class = s.RSVPSerializer
    queryset = RSVP.objects.none()  # for the schema; get_queryset builds the real one

    def get_queryset(self):
        event = selectors.access_event(self.kwargs["event_id"])
        self.check_object_permissions(self.request, event)
        return selectors.rsvps_for_event(event)


@extend_schema(tags=TAGS)
class EventCheckInView(APIView):
    """The host at the door: check a guest in by conference badge code or user id (idempotent)."""

    permission_classes = [IsHostOrAdmin]

    @extend_schema(request=s.EventCheckInInputSerializer, responses={200: s.RSVPSerializer})
    def post(self, request, event_id: int):
        event = selectors.access_event(event_id)
        self.check_object_permissions(request, event)
        data = s.EventCheckInInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rsvp = services.check_in_guest_by(event, **data.validated_data, by=actor(request))
        return Response(s.RSVPSerializer(rsvp).data)
