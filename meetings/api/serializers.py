from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from meetings.models import Meeting, MeetingStatus, MeetingWindow
from meetings.recommendations import MAX_LIMIT
from users.api.serializers import PublicProfileSerializer

MAX_ID = 2**63 - 1


class FreeSlotSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class MeetingWindowInputSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    slot_minutes = serializers.IntegerField(min_value=5, max_value=240, required=False, default=15)
    tables = serializers.ListField(
        child=serializers.CharField(max_length=50, trim_whitespace=True), min_length=1, max_length=500
    )


class MeetingWindowSerializer(serializers.ModelSerializer):
    """A window with its tables (names, in order) and slots; needs tables and slots prefetched."""

    conference = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tables = serializers.SerializerMethodField()
    slots = serializers.SerializerMethodField()

    class Meta:
        model = MeetingWindow
        fields = ["id", "conference", "starts_at", "ends_at", "slot_minutes", "tables", "slots"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tables(self, window: MeetingWindow) -> list[str]:
        return [table.name for table in window.tables.all()]

    @extend_schema_field(FreeSlotSerializer(many=True))
    def get_slots(self, window: MeetingWindow) -> list[dict]:
        return FreeSlotSerializer(window.slots.all(), many=True).data


class MeetingSlotQuerySerializer(serializers.Serializer):
    def get_fields(self):
        fields = super().get_fields()
        # "with" is the contract's name and a Python keyword, hence declared here.
        fields["with"] = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="the other person's id")
        return fields


class MeetingCreateInputSerializer(serializers.Serializer):
    conference = serializers.SlugField(max_length=80)
    starts_at = serializers.DateTimeField(help_text="the start of one of the conference's meeting slots")
    message = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def get_fields(self):
        fields = super().get_fields()
        # "with" is the contract's name and a Python keyword, hence declared here.
        fields["with"] = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="the other person's id")
        return fields


class MeetingListFilterSerializer(serializers.Serializer):
    conference = serializers.SlugField(max_length=80, required=False)
    status = serializers.ChoiceField(choices=MeetingStatus.choices, required=False)


class MeetingSerializer(serializers.ModelSerializer):
    """
    A meeting as one of its two people sees it; needs ``context["request"]``
    and ``conflicts_with`` set on the meeting (``meetings.selectors.attach_conflicts``).
    """

    conference = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    table = serializers.SerializerMethodField()
    direction = serializers.SerializerMethodField()
    other = serializers.SerializerMethodField()
    conflicts_with = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = Meeting
        fields = [
            "id",
            "conference",
            "status",
            "starts_at",
            "ends_at",
            "table",
            "direction",
            "other",
            "message",
            "conflicts_with",
            "created_at",
            "responded_at",
        ]
        read_only_fields = fields

    def _me_id(self) -> int:
        return self.context["request"].user.pk

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_table(self, meeting: Meeting) -> str | None:
        return meeting.table.name if meeting.table_id else None

    @extend_schema_field(serializers.ChoiceField(choices=["incoming", "outgoing"]))
    def get_direction(self, meeting: Meeting) -> str:
        return "outgoing" if meeting.requester_id == self._me_id() else "incoming"

    @extend_schema_field(PublicProfileSerializer)
    def get_other(self, meeting: Meeting) -> dict:
        other = meeting.recipient if meeting.requester_id == self._me_id() else meeting.requester
        return PublicProfileSerializer(other, context=self.context).data


class RecommendationQuerySerializer(serializers.Serializer):
    conference = serializers.SlugField(max_length=80)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, default=10)


class RecommendationSerializer(serializers.Serializer):
    user = PublicProfileSerializer()
    score = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.CharField())
    next_free_slot = FreeSlotSerializer(allow_null=True, help_text="a slot free for both of you, or null")


class RecommendationListSerializer(serializers.Serializer):
    results = RecommendationSerializer(many=True)
