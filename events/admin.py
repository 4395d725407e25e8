"""
Django admin for side events. RSVPs are shown read-only: the going and
waitlist counts are kept by the services under the event's lock, so seats
change through the API (or the check-in action), never by editing rows.
"""

from __future__ import annotations

import csv

from django.contrib import admin
from django.http import HttpResponse

from conferences.admin_scope import ConferenceScopedAdmin, ScopedTabularInline
from events.models import RSVP, Event


class RSVPInline(ScopedTabularInline):
    model = RSVP
    fields = ["user", "status", "created_at", "checked_in_at", "checked_in_by"]
    readonly_fields = fields
    ordering = ["status", "created_at", "id"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ConferenceScopedAdmin):
    list_display = ["title", "conference", "starts_at", "location", "capacity", "going_count", "waitlist_count", "host"]
    list_filter = ["conference", "starts_at"]
    search_fields = ["title", "description", "location", "host__username", "host__first_name", "host__last_name"]
    date_hierarchy = "starts_at"
    list_select_related = ["conference", "host"]
    autocomplete_fields = ["host"]
    readonly_fields = ["going_count", "waitlist_count", "created_at", "updated_at"]
    inlines = [RSVPInline]
    actions = ["export_rsvps_csv"]

    @admin.action(description="Export the guest lists of the selected events as CSV")
    def export_rsvps_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="rsvps.csv"'
        writer = csv.writer(response)
        writer.writerow(["event_id", "event", "user_id", "name", "status", "rsvp_at", "checked_in_at"])
        rsvps = (
            RSVP.objects.filter(event__in=queryset)
            .select_related("event", "user")
            .order_by("event_id", "status", "created_at")
        )
        for rsvp in rsvps:
            name = rsvp.user.get_display_name()
            writer.writerow(
                [
                    rsvp.event_id,
                    rsvp.event.title,
                    rsvp.user_id,
                    "'" + name if name[:1] in ("=", "+", "-", "@") else name,
                    rsvp.status,
                    rsvp.created_at.isoformat(),
                    rsvp.checked_in_at.isoformat() if rsvp.checked_in_at else "",
                ]
            )
        return response
