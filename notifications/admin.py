"""Django admin for notifications (broadcasts have theirs in ``broadcasts.admin``)."""

from __future__ import annotations

from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "kind", "title", "created_at", "read_at"]
    list_filter = ["kind"]
    search_fields = ["title", "user__username"]
    autocomplete_fields = ["user"]
    list_select_related = ["user"]
