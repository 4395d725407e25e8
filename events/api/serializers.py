from __future__ import annotations

from rest_framework import serializers

from conferences.models import Conference
from events.models import RSVP, Event
from users.api.serializers import UserSummarySerializer


class EventSerializer(serializers.ModelSerializer):
    """An event as listed; expects ``events_list``'s joins and its ``my_rsvp`` annotation."""

    conference = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    host = UserSummarySerializer(read_only=True, allow_null=True)
    my_rsvp = serializers.ChoiceField(choices=["going", "waitlisted"], read_only=True, allow_null=True)

    class Meta:
        model = Event
        fields = [
            "id",
            "title",
            "description",
            "conference",
            "starts_at",
            "ends_at",
            "location",
            "capacity",
            "host",
            "going_count",
            "waitlist_count",
            "my_rsvp",
        ]
        read_only_fields = fields


class EventWriteInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    conference = serializers.SlugRelatedField(
        slug_field="slug", queryset=Conference.objects.all(), required=False, allow_null=True, default=None
    )
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    location = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    capacity = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)

    def validate(self, attrs: dict) -> dict:
        instance = self.context.get("event")
        starts_at = attrs.get("starts_at", getattr(instance, "starts_at", None))
        ends_at = attrs.get("ends_at", getattr(instance, "ends_at", None))
        if starts_at and ends_at and ends_at < starts_at:
            raise serializers.ValidationError({"ends_at": ["An event cannot end before it starts."]})
        return attrs


class RSVPSerializer(serializers.ModelSerializer):
    event = serializers.IntegerField(source="event_id", read_only=True)
    user = UserSummarySerializer(read_only=True)
    checked_in_by = serializers.IntegerField(source="checked_in_by_id", read_only=True, allow_null=True)

    class Meta:
        model = RSVP
        fields = ["event", "user", "status", "created_at", "checked_in_at", "checked_in_by"]
        read_only_fields = fields


class EventCheckInInputSerializer(serializers.Serializer):
    """Exactly one of the two: the guest's conference badge code, or their user id."""

    badge_code = serializers.CharField(max_length=32, required=False)
    user_id = serializers.IntegerField(required=False)

    def validate(self, attrs: dict) -> dict:
        if bool(attrs.get("badge_code")) == ("user_id" in attrs):
            raise serializers.ValidationError("Give either badge_code or user_id.")
        return attrs


class EventMessageInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)
    include_waitlist = serializers.BooleanField(required=False, default=False)


class EventMessageResultSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
