"""
``/api/v1/conferences/{slug}/organizers/``: admins name a conference's
co-organizers; the co-organizers may read the list. Naming one is granting a
right, so it stays with admins (``docs/architecture.md``, co-organizers).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences import organizers
from conferences.errors import OrganizerNotFound
from conferences.models import ConferenceOrganizer
from conferences.selectors import access_conference
from ibw.api import IsAdmin
from users.api.serializers import PublicProfileSerializer
from users.selectors import access_user

TAGS = ["conferences"]


class OrganizerSerializer(serializers.ModelSerializer):
    user = PublicProfileSerializer(read_only=True)

    class Meta:
        model = ConferenceOrganizer
        fields = ["user", "added_at"]
        read_only_fields = fields


class OrganizerAddInputSerializer(serializers.Serializer):
    user = serializers.IntegerField(min_value=1)


@extend_schema(tags=TAGS)
class OrganizerListView(APIView):
    """The conference's co-organizers (unpaginated: a handful of people); they read it, admins change it."""

    def get_permissions(self):
        return [IsAdmin()] if self.request.method == "POST" else [organizers.CanManageConference()]

    @extend_schema(responses={200: inline_serializer("OrganizerList", {"results": OrganizerSerializer(many=True)})})
    def get(self, request, slug: str):
        conference = access_conference(slug)
        rows = organizers.organizers_for(conference)
        return Response({"results": OrganizerSerializer(rows, many=True, context={"request": request}).data})

    @extend_schema(request=OrganizerAddInputSerializer, responses={200: OrganizerSerializer, 201: OrganizerSerializer})
    def post(self, request, slug: str):
        conference = access_conference(slug)
        data = OrganizerAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = access_user(data.validated_data["user"])
        row, created = organizers.add_organizer(conference, user=user)
        body = OrganizerSerializer(row, context={"request": request}).data
        return Response(body, status=201 if created else 200)


@extend_schema(tags=TAGS)
class OrganizerDetailView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str, user_id: int):
        conference = access_conference(slug)
        if not organizers.remove_organizer(conference, user=access_user(user_id)):
            raise OrganizerNotFound()
        return Response(status=204)
