from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conferences.models import Conference
from quests.models import PointsEntry, Quest, Reward, RewardClaim, Submission, SubmissionStatus, Task, TaskType
from quests.selectors import progress_of
from quests.verification import public_config
from uploads.selectors import upload_url
from users.api.serializers import UserSummarySerializer

# --- output -----------------------------------------------------------------------


class InviteProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    needed = serializers.IntegerField()


class TaskSerializer(serializers.ModelSerializer):
    config = serializers.SerializerMethodField(
        help_text="Only the type's public keys; never a code, answer or chat id."
    )
    my_status = serializers.SerializerMethodField(
        help_text="The caller's latest status; an invite task not yet done is `pending`."
    )
    progress = serializers.SerializerMethodField(
        help_text='Invite tasks: `{"done", "needed"}` (invitees checked in); null for other types.'
    )

    class Meta:
        model = Task
        fields = ["id", "title", "type", "points", "config", "my_status", "progress"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField())
    def get_config(self, task: Task) -> dict:
        return public_config(task)

    @extend_schema_field(serializers.ChoiceField(choices=SubmissionStatus.choices, allow_null=True))
    def get_my_status(self, task: Task) -> str | None:
        status = self.context.get("statuses", {}).get(task.pk)
        if task.type == TaskType.INVITE and status != SubmissionStatus.APPROVED and task.pk in self._progress():
            return SubmissionStatus.PENDING
        return status

    @extend_schema_field(InviteProgressSerializer(allow_null=True))
    def get_progress(self, task: Task) -> dict | None:
        return self._progress().get(task.pk)

    def _progress(self) -> dict:
        return self.context.get("progress", {})


class ProgressSerializer(serializers.Serializer):
    completed = serializers.IntegerField()
    total = serializers.IntegerField()


class QuestSerializer(serializers.ModelSerializer):
    conference = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tasks = TaskSerializer(many=True, read_only=True)
    my_progress = serializers.SerializerMethodField()

    class Meta:
        model = Quest
        fields = [
            "id",
            "title",
            "description",
            "conference",
            "starts_at",
            "ends_at",
            "bonus_points",
            "prerequisite",
            "is_active",
            "tasks",
            "my_progress",
        ]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_my_progress(self, quest: Quest) -> dict:
        return progress_of(quest, self.context.get("statuses", {}))


class SubmissionResultSerializer(serializers.ModelSerializer):
    points_awarded = serializers.IntegerField(
        read_only=True,
        help_text="Points this submission earned: the task's, plus the quest's bonus if it completed it.",
    )

    class Meta:
        model = Submission
        fields = ["id", "status", "reason", "points_awarded"]
        read_only_fields = fields


class SubmissionSerializer(serializers.ModelSerializer):
    """A submission as admins review it."""

    quest = serializers.IntegerField(source="task.quest_id", read_only=True)
    user = UserSummarySerializer(read_only=True)
    photo_url = serializers.SerializerMethodField(help_text="A URL a reviewer can open; null without a photo.")

    class Meta:
        model = Submission
        fields = [
            "id",
            "quest",
            "task",
            "user",
            "status",
            "proof_url",
            "text",
            "photo_url",
            "reason",
            "points_awarded",
            "reviewer",
            "reviewed_at",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_photo_url(self, submission: Submission) -> str | None:
        if submission.photo is None:
            return None
        url = upload_url(submission.photo)
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None and url.startswith("/") else url


class PointsEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = PointsEntry
        fields = ["points", "reason", "created_at"]
        read_only_fields = fields


class PointsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    results = PointsEntrySerializer(many=True)


class StandingSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    points = serializers.IntegerField()


class LeaderboardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    user = UserSummarySerializer()
    points = serializers.IntegerField()


class LeaderboardSerializer(serializers.Serializer):
    results = LeaderboardRowSerializer(many=True)
    me = StandingSerializer(allow_null=True)


class InviteSerializer(serializers.Serializer):
    code = serializers.CharField()
    link = serializers.URLField()


class InvitationSerializer(serializers.Serializer):
    inviter = UserSummarySerializer()
    created_at = serializers.DateTimeField()


class RewardSerializer(serializers.ModelSerializer):
    remaining = serializers.IntegerField(read_only=True, help_text="Items left to claim.")

    class Meta:
        model = Reward
        fields = ["id", "title", "stock", "remaining"]
        read_only_fields = fields


class RewardClaimSerializer(serializers.ModelSerializer):
    code = serializers.CharField(read_only=True, help_text="Show this at the desk.")

    class Meta:
        model = RewardClaim
        fields = ["reward", "code", "created_at", "handed_out_at"]
        read_only_fields = fields


# --- input ------------------------------------------------------------------------


class TaskCreateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=TaskType.choices)
    points = serializers.IntegerField(min_value=0, max_value=100_000, default=10)
    config = serializers.JSONField(
        default=dict,
        help_text='By type: code {"code"}; quiz {"question", "answers"}; telegram_join {"chat_id", "invite_link"?}; '
        'conference_checkin {}; event_checkin {"event"}; connections {"count"}; invite {"count"}; '
        'proof {"kind": "url"|"text"}.',
    )


class QuestCreateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    conference = serializers.SlugRelatedField(
        slug_field="slug", queryset=Conference.objects.all(), required=False, allow_null=True, default=None
    )
    starts_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    ends_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    bonus_points = serializers.IntegerField(min_value=0, max_value=100_000, default=0)
    prerequisite = serializers.PrimaryKeyRelatedField(
        queryset=Quest.objects.all(), required=False, allow_null=True, default=None
    )
    is_active = serializers.BooleanField(default=True)
    tasks = TaskCreateInputSerializer(many=True, allow_empty=False)


class SubmissionCreateInputSerializer(serializers.Serializer):
    answer = serializers.CharField(required=False, allow_blank=True, max_length=200, default="", trim_whitespace=False)
    proof_url = serializers.URLField(required=False, allow_blank=True, max_length=500, default="")
    text = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    upload = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, default=None, help_text="A photo proof: a completed upload."
    )


class SubmissionReviewInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class SubmissionFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SubmissionStatus.choices, required=False)
    quest = serializers.IntegerField(required=False, min_value=1)


class QuestFilterSerializer(serializers.Serializer):
    conference = serializers.SlugField(required=False)


class LeaderboardQuerySerializer(serializers.Serializer):
    conference = serializers.SlugField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)
    day = serializers.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        help_text="YYYY-MM-DD: that day's sprint in the conference's timezone (needs `conference`).",
    )

    def validate(self, attrs: dict) -> dict:
        if attrs.get("day") and not attrs.get("conference"):
            raise serializers.ValidationError({"day": ["A day's sprint needs `conference`."]})
        return attrs


class InvitedByInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)


class RewardCreateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    stock = serializers.IntegerField(min_value=0, max_value=1_000_000)
