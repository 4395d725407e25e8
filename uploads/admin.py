from django.contrib import admin

from uploads.models import Upload


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "purpose", "content_type", "size", "status", "created_at", "used_at"]
    list_filter = ["status", "purpose"]
    search_fields = ["key", "owner__username"]
    raw_id_fields = ["owner"]
    readonly_fields = ["key", "size", "content_type", "created_at", "expires_at", "received_at", "completed_at"]
