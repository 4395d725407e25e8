from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet

from integrations.errors import EnrichmentCooldown
from integrations.models import AIUsage, EnrichmentRun, EnrichmentTrigger, ProcessedUpdate
from integrations.services import request_enrichment


@admin.action(description="Re-enrich selected users (ignores the cooldown)")
def re_enrich(modeladmin, request, queryset: QuerySet) -> None:
    """The users admin's action: queue a fresh enrichment of each selected user."""
    queued = skipped = 0
    for user in queryset:
        try:
            run = request_enrichment(user, force=True, trigger=EnrichmentTrigger.ADMIN)
        except EnrichmentCooldown:  # force skips the cooldown; kept for safety
            continue
        if run.status == "skipped":
            skipped += 1
        else:
            queued += 1
    modeladmin.message_user(request, f"Queued {queued} enrichment(s); skipped {skipped}.", messages.SUCCESS)


@admin.register(EnrichmentRun)
class EnrichmentRunAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "trigger", "status", "ai_called", "created_at", "finished_at", "error"]
    list_filter = ["status", "trigger", "ai_called"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["user", "trigger", "status", "error", "ai_called", "created_at", "started_at", "finished_at"]


@admin.register(ProcessedUpdate)
class ProcessedUpdateAdmin(admin.ModelAdmin):
    list_display = ["update_id", "received_at", "handled_at"]
    readonly_fields = ["update_id", "payload", "received_at", "handled_at"]


@admin.register(AIUsage)
class AIUsageAdmin(admin.ModelAdmin):
    list_display = ["day", "calls"]
    readonly_fields = ["day", "calls"]
