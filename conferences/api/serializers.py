from __future__ import annotations

import zoneinfo
from datetime import datetime, tzinfo

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conferences.models import Attendance, Conference, Room, Session, Speaker, Track


class ConferenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conference
        fields = ["slug", "name", "description", "venue", "timezone", "starts_on", "ends_on"]

    def validate_timezone(self, value: str) -> str:
        if value not in zoneinfo.available_timezones():
            raise serializers.ValidationError(f"{value!r} is not a known IANA time zone.")
        return value

    def validate(self, attrs: dict) -> dict:
        starts_on = attrs.get("starts_on", getattr(self.instance, "starts_on", None))
        ends_on = attrs.get("ends_on", getattr(self.instance, "ends_on", None))
        if starts_on and ends_on and ends_on < starts_on:
            raise serializers.ValidationError({"ends_on": ["The conference cannot end before it starts."]})
        return attrs


class ConferenceAdminSerializer(ConferenceSerializer):
    """What admins send and see: the public fields plus ``schedule_url`` (never shown to others)."""

    class Meta(ConferenceSerializer.Meta):
        fields = [*ConferenceSerializer.Meta.fields, "schedule_url"]


class ConferenceUpdateInputSerializer(ConferenceAdminSerializer):
    class Meta(ConferenceAdminSerializer.Meta):
        read_only_fields = ["slug"]


class RoomSerializer(serializers.ModelSerializer):
    class Meta:
        model = Room
        fields = ["id", "name"]


class TrackSerializer(serializers.ModelSerializer):
    class Meta:
        model = Track
        fields = ["id", "name", "color"]


class NamedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SpeakerSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Speaker
        fields = ["id", "name", "avatar_url", "user"]


class SpeakerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Speaker
        fields = ["id", "name", "bio", "avatar_url", "links", "user"]


class SessionSerializer(serializers.ModelSerializer):
    """A session as the agenda shows it; expects ``sessions_for_conference``'s joins and annotations."""

    room = serializers.SerializerMethodField()
    track = serializers.SerializerMethodField()
    speakers = serializers.SerializerMethodField()
    bookmarked = serializers.SerializerMethodField()

    class Meta:
        model = Session
        fields = [
            "id",
            "guid",
            "title",
            "abstract",
            "description",
            "starts_at",
            "ends_at",
            "room",
            "track",
            "type",
            "language",
            "url",
            "speakers",
            "bookmarked",
        ]
        read_only_fields = fields

    @extend_schema_field(NamedSerializer(allow_null=True))
    def get_room(self, session: Session) -> dict | None:
        return {"id": session.room.pk, "name": session.room.name} if session.room else None

    @extend_schema_field(NamedSerializer(allow_null=True))
    def get_track(self, session: Session) -> dict | None:
        return {"id": session.track.pk, "name": session.track.name} if session.track else None

    @extend_schema_field(SpeakerSummarySerializer(many=True))
    def get_speakers(self, session: Session) -> list[dict]:
        links = getattr(session, "speaker_links", None)
        speakers = [link.speaker for link in links] if links is not None else list(session.speakers.all())
        return [{"id": s.pk, "name": s.name, "avatar_url": s.avatar_url, "user": s.user_id} for s in speakers]

    @extend_schema_field(serializers.BooleanField())
    def get_bookmarked(self, session: Session) -> bool:
        return bool(getattr(session, "bookmarked", False))

    def to_representation(self, session: Session) -> dict:
        # An agenda page renders 100 of these: a plain dict, the same output as
        # the declared fields give (tests compare the two), at a fraction of the cost.
        if type(self) is not SessionSerializer:  # a subclass with fields of its own
            return super().to_representation(session)
        return {
            "id": session.pk,
            "guid": session.guid,
            "title": session.title,
            "abstract": session.abstract,
            "description": session.description,
            "starts_at": _DATETIME.to_representation(session.starts_at),
            "ends_at": _DATETIME.to_representation(session.ends_at),
            "room": self.get_room(session),
            "track": self.get_track(session),
            "type": session.type,
            "language": session.language,
            "url": session.url,
            "speakers": self.get_speakers(session),
            "bookmarked": self.get_bookmarked(session),
        }

    def field_representation(self, session: Session) -> dict:
        """What DRF's declared fields give; ``to_representation`` must equal it."""
        return dict(super().to_representation(session))


_DATETIME = serializers.DateTimeField()


def _iso(value: datetime, zone: tzinfo) -> str:
    """DRF's ISO 8601 rendering of an aware datetime (``Z`` for UTC) without its per-call setup."""
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def session_row_representation(row: dict) -> dict:
    """
    An agenda row (``selectors.agenda_rows`` with ``with_speaker_rows``) as
    ``SessionSerializer`` shows the session to a caller without bookmarks
    (tests compare the two for every session of an agenda).
    """
    zone = timezone.get_current_timezone()
    return {
        "id": row["id"],
        "guid": row["guid"],
        "title": row["title"],
        "abstract": row["abstract"],
        "description": row["description"],
        "starts_at": _iso(row["starts_at"], zone),
        "ends_at": _iso(row["ends_at"], zone),
        "room": {"id": row["room_id"], "name": row["room_name"]} if row["room_id"] is not None else None,
        "track": {"id": row["track_id"], "name": row["track_name"]} if row["track_id"] is not None else None,
        "type": row["type"],
        "language": row["language"],
        "url": row["url"],
        "speakers": row["speakers"],
        "bookmarked": False,
    }


class MyAgendaSessionSerializer(SessionSerializer):
    conflicts_with = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "conflicts_with"]
        read_only_fields = fields


class SessionWriteInputSerializer(serializers.Serializer):
    """Create or change a session by hand; ``room``, ``track`` and ``speakers`` are ids in the same conference."""

    guid = serializers.CharField(max_length=64, required=False, allow_blank=True)
    title = serializers.CharField(max_length=300)
    abstract = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    room = serializers.IntegerField(required=False, allow_null=True, default=None)
    track = serializers.IntegerField(required=False, allow_null=True, default=None)
    type = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    language = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    speakers = serializers.ListField(child=serializers.IntegerField(), required=False, default=list, max_length=50)

    def validate(self, attrs: dict) -> dict:
        conference = self.context["conference"]
        instance = self.context.get("session")
        starts_at = attrs.get("starts_at", getattr(instance, "starts_at", None))
        ends_at = attrs.get("ends_at", getattr(instance, "ends_at", None))
        if starts_at and ends_at and ends_at < starts_at:
            raise serializers.ValidationError({"ends_at": ["A session cannot end before it starts."]})
        for name, model in (("room", Room), ("track", Track)):
            if name in attrs and attrs[name] is not None:
                found = model.objects.filter(conference=conference, pk=attrs[name]).first()
                if found is None:
                    raise serializers.ValidationError({name: [f"No such {name} in this conference."]})
                attrs[name] = found
        if "speakers" in attrs:
            ids = list(dict.fromkeys(attrs["speakers"]))
            found = {s.pk: s for s in Speaker.objects.filter(conference=conference, pk__in=ids)}
            missing = [i for i in ids if i not in found]
            if missing:
                raise serializers.ValidationError({"speakers": [f"No such speakers in this conference: {missing}."]})
            attrs["speakers"] = [found[i] for i in ids]
        return attrs


class RoomWriteInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    position = serializers.IntegerField(min_value=0, required=False)
    guid = serializers.CharField(max_length=64, required=False, allow_blank=True)


class TrackWriteInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    color = serializers.RegexField(r"^(#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6})?$", max_length=16, required=False)


class SpeakerLinkSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class SpeakerWriteInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    bio = serializers.CharField(required=False, allow_blank=True)
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    links = SpeakerLinkSerializer(many=True, required=False, max_length=20)
    external_id = serializers.CharField(max_length=64, required=False, allow_blank=True)


class SpeakerSessionSerializer(serializers.ModelSerializer):
    room = serializers.SerializerMethodField()
    track = serializers.SerializerMethodField()

    class Meta:
        model = Session
        fields = ["id", "title", "starts_at", "ends_at", "room", "track"]
        read_only_fields = fields

    @extend_schema_field(NamedSerializer(allow_null=True))
    def get_room(self, session: Session) -> dict | None:
        return {"id": session.room.pk, "name": session.room.name} if session.room else None

    @extend_schema_field(NamedSerializer(allow_null=True))
    def get_track(self, session: Session) -> dict | None:
        return {"id": session.track.pk, "name": session.track.name} if session.track else None


class SpeakerDetailSerializer(SpeakerSerializer):
    sessions = SpeakerSessionSerializer(many=True, read_only=True)

    class Meta(SpeakerSerializer.Meta):
        fields = [*SpeakerSerializer.Meta.fields, "sessions"]


class AttendanceSerializer(serializers.ModelSerializer):
    conference = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    user = serializers.IntegerField(source="user_id", read_only=True)
    checked_in_by = serializers.IntegerField(source="checked_in_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Attendance
        fields = ["conference", "user", "status", "badge_code", "registered_at", "checked_in_at", "checked_in_by"]
        read_only_fields = fields


class CheckInInputSerializer(serializers.Serializer):
    badge_code = serializers.CharField(max_length=32)


class ImportCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    removed = serializers.IntegerField()


class CalendarUrlSerializer(serializers.Serializer):
    url = serializers.URLField()
