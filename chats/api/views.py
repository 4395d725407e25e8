from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from chats import selectors, services
from chats.api import serializers as s
from conferences.organizers import CanManageConference, may_manage, organizes
from conferences.selectors import access_conference
from events.models import Event
from events.selectors import access_event
from ibw.api import IsUserOrAdmin, actor, is_admin, unpaginated, unpaginated_schema

TAGS = ["chats"]


def _may_manage_event(request, event: Event) -> bool:
    """Its host, an admin, or a co-organizer of its conference (who manage its events)."""
    user = actor(request)
    if is_admin(request) or (user is not None and event.host_id == user.pk):
        return True
    return event.conference_id is not None and user is not None and organizes(user, event.conference)


def _link(request, owner) -> Response:
    data = s.ChatLinkInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    link, created = services.link_chat(owner, by=actor(request), **data.validated_data)
    return Response(s.ChatLinkSerializer(link).data, status=201 if created else 200)


def _list(request, owner, *, manages: bool) -> Response:
    chats = services.visible_chats(owner, user=actor(request), manages=manages)
    return unpaginated(s.VisibleChatSerializer(chats, many=True).data)


@extend_schema(tags=TAGS)
class ConferenceChatListView(APIView):
    """A conference's Telegram chats: its organizers link them; registered people get invite links."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [CanManageConference()]
        return [IsUserOrAdmin()]

    @extend_schema(responses=unpaginated_schema(s.VisibleChatSerializer, "ChatResults"))
    def get(self, request, slug: str):
        conference = access_conference(slug)
        return _list(request, conference, manages=may_manage(request, conference))

    @extend_schema(request=s.ChatLinkInputSerializer, responses={200: s.ChatLinkSerializer, 201: s.ChatLinkSerializer})
    def post(self, request, slug: str):
        return _link(request, access_conference(slug))


@extend_schema(tags=TAGS)
class ConferenceChatDetailView(APIView):
    permission_classes = [CanManageConference]

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str, chat_id: int):
        services.unlink_chat(selectors.access_chat(access_conference(slug), chat_id))
        return Response(status=204)


@extend_schema(tags=TAGS)
class EventChatListView(APIView):
    """A side event's Telegram chats: its host links them; people going get invite links."""

    permission_classes = [IsUserOrAdmin]

    @extend_schema(responses=unpaginated_schema(s.VisibleChatSerializer, "EventChatResults"))
    def get(self, request, event_id: int):
        event = access_event(event_id)
        return _list(request, event, manages=_may_manage_event(request, event))

    @extend_schema(request=s.ChatLinkInputSerializer, responses={200: s.ChatLinkSerializer, 201: s.ChatLinkSerializer})
    def post(self, request, event_id: int):
        event = access_event(event_id)
        if not _may_manage_event(request, event):
            raise PermissionDenied("Only the event's host, its conference's organizers or an admin may link its chats.")
        return _link(request, event)


@extend_schema(tags=TAGS)
class EventChatDetailView(APIView):
    permission_classes = [IsUserOrAdmin]

    @extend_schema(responses={204: None})
    def delete(self, request, event_id: int, chat_id: int):
        event = access_event(event_id)
        if not _may_manage_event(request, event):
            raise PermissionDenied(
                "Only the event's host, its conference's organizers or an admin may unlink its chats."
            )
        services.unlink_chat(selectors.access_chat(event, chat_id))
        return Response(status=204)
