from django.contrib import admin

from bot.models import ProcessedUpdate


@admin.register(ProcessedUpdate)
class ProcessedUpdateAdmin(admin.ModelAdmin):
    list_display = ["update_id", "received_at", "handled_at"]
    readonly_fields = ["update_id", "payload", "received_at", "handled_at"]
