from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse

from conferences.admin_scope import ConferenceScopedAdmin, ScopedTabularInline
from ibw.errors import ApplicationError
from quests.models import (
    PointsEntry,
    Quest,
    QuestCompletion,
    Reward,
    RewardClaim,
    SprintWin,
    Submission,
    SubmissionStatus,
    Task,
)
from quests.selectors import claims_for_desk
from quests.services import check_prerequisite, clean_task_config, hand_out_claims, review_submission, save_quest


class TaskForm(forms.ModelForm):
    """Saves ``config`` through the same cleaning as the API: codes and answers are hashed here."""

    class Meta:
        model = Task
        fields = ["title", "type", "points", "order", "config"]
        help_texts = {
            "config": 'JSON by type: code {"code"}; quiz {"question", "answers": [...]}; telegram_join '
            '{"chat_id", "invite_link"}; conference_checkin {}; event_checkin {"event"}; connections {"count"}; '
            'proof {"kind": "url" or "text"}. Saved codes and answers show as hashes; leave them to keep them.'
        }

    def clean(self):
        cleaned = super().clean()
        task_type = cleaned.get("type")
        if task_type and "config" not in self.errors:
            quest = getattr(self.instance, "quest", None)
            try:
                cleaned["config"] = clean_task_config(
                    task_type, cleaned.get("config"), conference_id=quest.conference_id if quest else None
                )
            except ValidationError as exc:
                self.add_error("config", exc.messages)
        return cleaned


class TaskInline(ScopedTabularInline):
    model = Task
    form = TaskForm
    extra = 1


class QuestForm(forms.ModelForm):
    """Refuses a prerequisite that would make a cycle, naming it (``save_quest`` checks again under its lock)."""

    class Meta:
        model = Quest
        fields = [
            "title",
            "description",
            "conference",
            "starts_at",
            "ends_at",
            "bonus_points",
            "is_active",
            "prerequisite",
        ]

    def clean(self):
        cleaned = super().clean()
        if "prerequisite" not in self.errors:
            try:
                check_prerequisite(self.instance, cleaned.get("prerequisite"))
            except ValidationError as exc:
                self.add_error("prerequisite", exc.messages)
        return cleaned


@admin.register(Quest)
class QuestAdmin(ConferenceScopedAdmin):
    form = QuestForm
    list_display = ["title", "conference", "starts_at", "ends_at", "bonus_points", "is_active"]
    list_filter = ["is_active", "conference"]
    search_fields = ["title"]
    autocomplete_fields = ["prerequisite"]
    inlines = [TaskInline]

    def save_model(self, request, obj, form, change) -> None:
        save_quest(obj)


def _review(modeladmin, request, queryset, decision: str) -> None:
    done = skipped = 0
    for submission in queryset.filter(status=SubmissionStatus.PENDING).select_related("task__quest", "user"):
        try:
            review_submission(submission, decision=decision, reviewer=request.user)
            done += 1
        except ApplicationError:
            skipped += 1
    skipped += queryset.exclude(status=SubmissionStatus.PENDING).count()
    verb = "Approved" if decision == "approve" else "Rejected"
    modeladmin.message_user(request, f"{verb} {done} submissions; {skipped} were not pending.", messages.SUCCESS)


@admin.action(description="Approve selected pending submissions")
def approve_submissions(modeladmin, request, queryset):
    _review(modeladmin, request, queryset, "approve")


@admin.action(description="Reject selected pending submissions")
def reject_submissions(modeladmin, request, queryset):
    _review(modeladmin, request, queryset, "reject")


@admin.register(Submission)
class SubmissionAdmin(ConferenceScopedAdmin):
    conference_path = "task__quest__conference"
    list_display = ["id", "user", "task", "status", "proof_url", "points_awarded", "created_at"]
    list_filter = ["task__quest__conference", "status", "task__type", "task__quest"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "task__title"]
    list_select_related = ["user", "task"]
    actions = [approve_submissions, reject_submissions]
    readonly_fields = [f.name for f in Submission._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(PointsEntry)
class PointsEntryAdmin(ConferenceScopedAdmin):
    """The ledger is append-only: read here, written only by the quests services."""

    list_display = ["user", "points", "reason", "source", "conference", "created_at"]
    list_filter = ["conference"]
    search_fields = ["user__username", "reason", "source"]
    list_select_related = ["user", "conference"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(QuestCompletion)
class QuestCompletionAdmin(ConferenceScopedAdmin):
    conference_path = "quest__conference"
    list_display = ["quest", "user", "completed_at"]
    list_filter = ["quest__conference", "quest"]
    list_select_related = ["quest", "user"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Reward)
class RewardAdmin(ConferenceScopedAdmin):
    conference_path = "quest__conference"
    list_display = ["title", "quest", "stock", "created_at"]
    list_filter = ["quest__conference", "quest"]
    list_select_related = ["quest"]
    autocomplete_fields = ["quest"]


@admin.action(description="Mark selected claims handed out")
def mark_handed_out(modeladmin, request, queryset):
    changed = hand_out_claims(queryset, by=request.user)
    modeladmin.message_user(
        request, f"Handed out {changed} claims; {queryset.count() - changed} already were.", messages.SUCCESS
    )


CSV_COLUMNS = ["code", "reward", "quest", "user_id", "user", "claimed_at", "handed_out_at", "handed_out_by"]


@admin.action(description="Export selected claims as CSV")
def export_claims_csv(modeladmin, request, queryset):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="reward-claims.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for claim in claims_for_desk(queryset):
        writer.writerow(
            [
                claim.code,
                claim.reward.title,
                claim.reward.quest.title,
                claim.user_id,
                claim.user.get_display_name() if claim.user else "(erased account)",
                claim.created_at.isoformat(),
                claim.handed_out_at.isoformat() if claim.handed_out_at else "",
                str(claim.handed_out_by) if claim.handed_out_by else "",
            ]
        )
    return response


@admin.register(RewardClaim)
class RewardClaimAdmin(ConferenceScopedAdmin):
    """The desk's list: find a code, hand the item out. Claims are made only through the API."""

    conference_path = "reward__quest__conference"
    list_display = ["code", "reward", "user", "created_at", "handed_out_at", "handed_out_by"]
    list_filter = [
        "reward__quest__conference",
        "reward__quest",
        "reward",
        ("handed_out_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["code", "user__username", "user__first_name", "user__last_name"]
    list_select_related = ["reward", "user", "handed_out_by"]
    actions = [mark_handed_out, export_claims_csv]
    readonly_fields = [f.name for f in RewardClaim._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SprintWin)
class SprintWinAdmin(ConferenceScopedAdmin):
    list_display = ["conference", "day", "rank", "user", "points", "created_at"]
    list_filter = ["conference", "day"]
    list_select_related = ["conference", "user"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
