from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from live.models import ModerationAction, Poll, Question
from users.api.serializers import PublicProfileSerializer


class QuestionSerializer(serializers.ModelSerializer):
    """A question as ``questions_for`` shapes it (``votes`` and ``my_vote`` annotated)."""

    author = serializers.SerializerMethodField()
    anonymous = serializers.BooleanField(source="is_anonymous", read_only=True)
    votes = serializers.IntegerField(read_only=True)
    my_vote = serializers.BooleanField(read_only=True)
    pinned = serializers.BooleanField(source="is_pinned", read_only=True)

    class Meta:
        model = Question
        fields = ["id", "text", "author", "anonymous", "votes", "my_vote", "status", "pinned", "created_at"]
        read_only_fields = fields

    @extend_schema_field(PublicProfileSerializer(allow_null=True))
    def get_author(self, question: Question) -> dict | None:
        if question.is_anonymous:
            return None
        return PublicProfileSerializer(question.author, context=self.context).data


class QuestionCreateInputSerializer(serializers.Serializer):
    text = serializers.CharField(min_length=1, max_length=500, trim_whitespace=True)
    anonymous = serializers.BooleanField(default=False)


class QuestionModerateInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ModerationAction.values)


class QuestionListFilterSerializer(serializers.Serializer):
    projector = serializers.BooleanField(
        default=False, help_text="Leave hidden questions out even for moderators (for the screen in the room)."
    )


class PollOptionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    text = serializers.CharField(read_only=True)
    votes = serializers.IntegerField(read_only=True)


class PollSerializer(serializers.ModelSerializer):
    """A poll as ``polls_for`` shapes it (options' ``votes`` and the caller's ``my_vote`` annotated)."""

    options = PollOptionSerializer(many=True, read_only=True)
    my_vote = serializers.IntegerField(read_only=True, allow_null=True, help_text="The caller's option id, or null.")

    class Meta:
        model = Poll
        fields = ["id", "question", "status", "options", "my_vote", "created_at"]
        read_only_fields = fields


class PollCreateInputSerializer(serializers.Serializer):
    question = serializers.CharField(min_length=1, max_length=300)
    options = serializers.ListField(
        child=serializers.CharField(min_length=1, max_length=200), min_length=2, max_length=10
    )


class PollVoteInputSerializer(serializers.Serializer):
    option = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class FeedbackInputSerializer(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class FeedbackSerializer(serializers.Serializer):
    rating = serializers.IntegerField(read_only=True)
    comment = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class FeedbackSummarySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    average = serializers.FloatField(allow_null=True)
    distribution = serializers.DictField(child=serializers.IntegerField(), help_text='{"1": n, …, "5": n}')
    comments = serializers.ListField(child=serializers.CharField())
