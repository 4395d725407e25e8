from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.token_blacklist.admin import BlacklistedTokenAdmin
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from users.enrichment import request_enrichment
from users.models import (
    AIUsage,
    BotLoginToken,
    EnrichmentRun,
    EnrichmentRunStatus,
    EnrichmentTrigger,
    Role,
    User,
)


@admin.action(description="Re-enrich selected users (ignores the cooldown)")
def re_enrich(modeladmin, request, queryset: QuerySet) -> None:
    """Queue a fresh enrichment of each selected user (``force``: no cooldown, so no 429 to catch)."""
    queued = skipped = 0
    for user in queryset:
        run = request_enrichment(user, force=True, trigger=EnrichmentTrigger.ADMIN)
        if run.status == EnrichmentRunStatus.SKIPPED:
            skipped += 1
        else:
            queued += 1
    modeladmin.message_user(request, f"Queued {queued} enrichment(s); skipped {skipped}.", messages.SUCCESS)


class RoleFilter(admin.SimpleListFilter):
    title = _("role")
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [(r.value, r.label) for r in Role if r != Role.ADMIN]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value():
            # roles is a JSON list; matching the quoted value works on SQLite and PostgreSQL.
            return queryset.filter(roles__icontains=f'"{self.value()}"')
        return queryset


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["-date_joined"]
    list_display = [
        "id",
        "__str__",
        "username",
        "telegram_id",
        "company",
        "points",
        "enrichment_status",
        "is_staff",
        "date_joined",
    ]
    actions = [re_enrich]
    list_filter = [RoleFilter, "is_staff", "is_active", "notify_telegram", "directory_visible", "enrichment_status"]
    search_fields = [
        "username",
        "first_name",
        "last_name",
        "display_name",
        "email",
        "company",
        "job_title",
        "=telegram_id",
    ]
    readonly_fields = ["telegram_id", "points", "date_joined", "last_login", "calendar_token", "enriched_at"]
    fieldsets = [
        (None, {"fields": ["email", "password", "telegram_id", "username"]}),
        (
            _("Profile"),
            {
                "fields": [
                    "first_name",
                    "last_name",
                    "display_name",
                    "bio",
                    "company",
                    "job_title",
                    "twitter",
                    "linkedin",
                    "interests",
                    "avatar",
                    "photo_url",
                ]
            },
        ),
        (
            _("Roles and settings"),
            {
                "fields": [
                    "roles",
                    "notify_telegram",
                    "session_reminders",
                    "directory_visible",
                    "points",
                    "telegram_chat_id",
                    "telegram_blocked_at",
                    "calendar_token",
                ]
            },
        ),
        (
            _("Enrichment"),
            {
                "fields": [
                    "enrichment_status",
                    "enrichment_summary",
                    "enrichment_tags",
                    "enrichment_openers",
                    "enrichment_error",
                    "enriched_at",
                ]
            },
        ),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2", "is_staff"]})]


@admin.register(EnrichmentRun)
class EnrichmentRunAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "trigger", "status", "ai_called", "created_at", "finished_at", "error"]
    list_filter = ["status", "trigger", "ai_called"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["user", "trigger", "status", "error", "ai_called", "created_at", "started_at", "finished_at"]


@admin.register(AIUsage)
class AIUsageAdmin(admin.ModelAdmin):
    list_display = ["day", "calls"]
    readonly_fields = ["day", "calls"]


@admin.register(BotLoginToken)
class BotLoginTokenAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "created_at", "expires_at", "confirmed_at", "consumed_at"]
    readonly_fields = ["token", "user", "created_at", "expires_at", "confirmed_at", "consumed_at"]
    list_select_related = ["user"]


# simplejwt's admin picks the token to blacklist from a <select> of every token ever issued.
admin.site.unregister(BlacklistedToken)


@admin.register(BlacklistedToken)
class BlacklistedTokenByIdAdmin(BlacklistedTokenAdmin):
    raw_id_fields = ["token"]
