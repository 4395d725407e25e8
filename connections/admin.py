from django.contrib import admin

from connections.models import Block, Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["id", "from_user", "to_user", "status", "met_in_person", "created_at"]
    list_filter = ["status", "met_in_person"]
    search_fields = [
        "from_user__username",
        "from_user__first_name",
        "from_user__last_name",
        "to_user__username",
        "to_user__first_name",
        "to_user__last_name",
        "message",
        "=from_user__id",
        "=to_user__id",
    ]
    raw_id_fields = ["from_user", "to_user"]
    list_select_related = ["from_user", "to_user"]
    date_hierarchy = "created_at"


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["id", "blocker", "blocked", "created_at"]
    search_fields = ["blocker__username", "blocker__last_name", "blocked__username", "blocked__last_name"]
    raw_id_fields = ["blocker", "blocked"]
    list_select_related = ["blocker", "blocked"]
