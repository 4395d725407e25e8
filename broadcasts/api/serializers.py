from __future__ import annotations

from rest_framework import serializers

from broadcasts.models import CHANNEL_CHOICES, Broadcast, Segment
from notifications.models import Channel


class AudienceSerializer(serializers.Serializer):
    conference = serializers.SlugField(required=False, allow_null=True, allow_blank=True)
    segment = serializers.ChoiceField(choices=Segment.choices)
    event = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    quest = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    session = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    def validate(self, attrs):
        if attrs["segment"] == Segment.EVENT_GOING and not attrs.get("event"):
            raise serializers.ValidationError({"event": ["Required for the event_going segment."]})
        if attrs["segment"] == Segment.QUEST_COMPLETED and not attrs.get("quest"):
            raise serializers.ValidationError({"quest": ["Required for the quest_completed segment."]})
        if attrs["segment"] == Segment.SESSION_BOOKMARKED and not attrs.get("session"):
            raise serializers.ValidationError({"session": ["Required for the session_bookmarked segment."]})
        return {k: v for k, v in attrs.items() if v not in (None, "")}


class BroadcastPreviewInputSerializer(serializers.Serializer):
    audience = AudienceSerializer()


class BroadcastPreviewSerializer(serializers.Serializer):
    total = serializers.IntegerField()


class BroadcastCreateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    audience = AudienceSerializer()
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=CHANNEL_CHOICES),
        allow_empty=False,
        default=lambda: [Channel.IN_APP, Channel.TELEGRAM],
    )
    send_at = serializers.DateTimeField(required=False, allow_null=True)


class BroadcastSerializer(serializers.ModelSerializer):
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Broadcast
        fields = [
            "id",
            "title",
            "body",
            "audience",
            "channels",
            "send_at",
            "status",
            "total",
            "sent",
            "failed",
            "socket_refused",
            "progress",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, broadcast: Broadcast) -> float:
        """The share of deliveries settled (sent or failed), 0 to 1."""
        if not broadcast.total:
            return 1.0 if broadcast.status == "completed" else 0.0
        return round((broadcast.sent + broadcast.failed) / broadcast.total, 4)
