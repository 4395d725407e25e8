"""
Moderation and feedback in Django admin. The actions call the same services
as the API, so an admin-side hide or close is recorded and pushed the same
way (with the admin user as "by").
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Avg, Count, QuerySet

from conferences.admin_scope import ConferenceScopedAdmin, ScopedTabularInline
from live import services
from live.models import (
    Feedback,
    ModerationAction,
    Poll,
    PollOption,
    PollStatus,
    Question,
    QuestionModeration,
    SessionFeedbackSummary,
)


class QuestionModerationInline(ScopedTabularInline):
    model = QuestionModeration
    fields = ["action", "by", "at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _moderation(action: str, description: str):
    def run(modeladmin: admin.ModelAdmin, request, queryset: QuerySet[Question]) -> None:
        for question in queryset:
            services.moderate_question(question, action=action, by=request.user)
        modeladmin.message_user(request, f"{description}: {queryset.count()} question(s).", messages.SUCCESS)

    run.__name__ = f"moderate_{action}"
    return admin.action(description=description)(run)


@admin.register(Question)
class QuestionAdmin(ConferenceScopedAdmin):
    conference_path = "session__conference"
    # The author is shown even for anonymous questions: anonymity is towards the audience, not the audit.
    list_display = ["text", "session", "author", "is_anonymous", "vote_count", "status", "is_pinned", "created_at"]
    list_filter = ["status", "is_pinned", "session__conference", "session"]
    search_fields = ["text", "author__username", "author__first_name", "author__last_name"]
    list_select_related = ["session", "author"]
    readonly_fields = [
        "session",
        "author",
        "text",
        "is_anonymous",
        "status",
        "is_pinned",
        "created_at",
        "moderated_at",
        "moderated_by",
    ]
    inlines = [QuestionModerationInline]
    actions = [
        _moderation(ModerationAction.HIDE, "Hide"),
        _moderation(ModerationAction.ANSWER, "Mark answered"),
        _moderation(ModerationAction.PIN, "Pin"),
        _moderation(ModerationAction.UNPIN, "Unpin"),
        _moderation(ModerationAction.REOPEN, "Reopen"),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(votes=Count("vote_rows"))

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="votes", ordering="votes")
    def vote_count(self, question: Question) -> int:
        return question.votes


class PollOptionInline(ScopedTabularInline):
    model = PollOption
    fields = ["position", "text", "vote_count"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(votes=Count("vote_rows"))

    @admin.display(description="votes")
    def vote_count(self, option: PollOption) -> int:
        return option.votes


@admin.action(description="Close the selected polls")
def close_polls(modeladmin: admin.ModelAdmin, request, queryset: QuerySet[Poll]) -> None:
    closed = sum(services.close_poll(poll, by=request.user) for poll in queryset.filter(status=PollStatus.OPEN))
    modeladmin.message_user(request, f"Closed {closed} poll(s).", messages.SUCCESS)


@admin.register(Poll)
class PollAdmin(ConferenceScopedAdmin):
    conference_path = "session__conference"
    list_display = ["question", "session", "status", "vote_count", "created_at", "closed_at"]
    list_filter = ["status", "session__conference", "session"]
    search_fields = ["question"]
    list_select_related = ["session"]
    readonly_fields = ["session", "question", "status", "created_by", "created_at", "closed_at", "closed_by"]
    inlines = [PollOptionInline]
    actions = [close_polls]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(votes=Count("vote_rows"))

    def has_add_permission(self, request) -> bool:
        # Polls have options; open them through the API (POST …/polls/), which validates 2–10.
        return False

    @admin.display(description="votes", ordering="votes")
    def vote_count(self, poll: Poll) -> int:
        return poll.votes


@admin.register(Feedback)
class FeedbackAdmin(ConferenceScopedAdmin):
    conference_path = "session__conference"
    list_display = ["session", "rating", "comment", "updated_at"]
    list_filter = ["rating", "session__conference", "session"]
    search_fields = ["comment", "session__title"]
    list_select_related = ["session"]
    readonly_fields = ["session", "user", "rating", "comment", "created_at", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SessionFeedbackSummary)
class SessionFeedbackSummaryAdmin(ConferenceScopedAdmin):
    """Each session of a conference with its number of ratings and their average."""

    list_display = ["title", "conference", "starts_at", "feedback_count", "average_rating"]
    list_filter = ["conference"]
    search_fields = ["title"]
    list_select_related = ["conference"]
    ordering = ["conference", "starts_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(ratings=Count("feedback"), average=Avg("feedback__rating"))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="ratings", ordering="ratings")
    def feedback_count(self, session: SessionFeedbackSummary) -> int:
        return session.ratings

    @admin.display(description="average", ordering="average")
    def average_rating(self, session: SessionFeedbackSummary) -> str:
        return f"{session.average:.2f}" if session.average is not None else "–"
