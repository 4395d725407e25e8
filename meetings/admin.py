"""
Meetings in the Django admin, for organizers and the venue staff: windows
(created through ``create_meeting_window``, with their tables), a per-slot
table occupancy page, the day's meetings as CSV, and cancelling meetings
(both people are told). Meetings are never created or edited here: they
change only through ``meetings.services``.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from conferences.admin_scope import ConferenceScopedAdmin, ScopedTabularInline, conferences_for
from conferences.models import Conference
from ibw.errors import ApplicationError
from meetings.models import Meeting, MeetingStatus, MeetingTable, MeetingWindow
from meetings.selectors import meetings_on_day
from meetings.services import create_meeting_window, staff_cancel_meeting

CSV_COLUMNS = ["starts_at", "ends_at", "table", "requester_id", "requester", "recipient_id", "recipient", "meeting_id"]


def _safe_cell(value: str) -> str:
    # People type their own names; a leading =, +, - or @ would run as a formula in a spreadsheet.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def meetings_csv(conference: Conference, day: date) -> HttpResponse:
    """The accepted meetings of ``conference`` on ``day`` (its local date) as CSV, by time and table."""
    zone = ZoneInfo(conference.timezone)
    start = datetime.combine(day, time.min, tzinfo=zone)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="meetings-{conference.slug}-{day.isoformat()}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for meeting in meetings_on_day(conference, start=start, end=start + timedelta(days=1)):
        writer.writerow(
            [
                timezone.localtime(meeting.starts_at, zone).strftime("%Y-%m-%d %H:%M"),
                timezone.localtime(meeting.ends_at, zone).strftime("%H:%M"),
                _safe_cell(meeting.table.name if meeting.table else ""),
                meeting.requester_id,
                _safe_cell(meeting.requester.get_display_name()),
                meeting.recipient_id,
                _safe_cell(meeting.recipient.get_display_name()),
                meeting.pk,
            ]
        )
    return response


class MeetingWindowAddForm(forms.ModelForm):
    """Creates the window through the service, so slots and tables are made as the API makes them."""

    tables = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), help_text="One table name a line, e.g. T1, T2, … in order."
    )

    class Meta:
        model = MeetingWindow
        fields = ["conference", "starts_at", "ends_at", "slot_minutes"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        names = [line.strip() for line in data.get("tables", "").splitlines() if line.strip()]
        try:
            # Runs inside the admin's transaction: an error below rolls the window back.
            self.created_window = create_meeting_window(
                data["conference"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                slot_minutes=data["slot_minutes"],
                tables=names,
            )
        except ApplicationError as exc:
            raise ValidationError(exc.message) from exc
        return data


class MeetingTableInline(ScopedTabularInline):
    model = MeetingTable
    fields = ["name", "position"]
    extra = 0


@admin.register(MeetingWindow)
class MeetingWindowAdmin(ConferenceScopedAdmin):
    list_display = ["id", "conference", "starts_at", "ends_at", "slot_minutes", "table_count", "links"]
    list_filter = ["conference"]
    list_select_related = ["conference"]
    inlines = [MeetingTableInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(table_total=Count("tables", distinct=True))

    @admin.display(description="tables", ordering="table_total")
    def table_count(self, window: MeetingWindow) -> int:
        return window.table_total

    @admin.display(description="")
    def links(self, window: MeetingWindow) -> str:
        day = timezone.localtime(window.starts_at, ZoneInfo(window.conference.timezone)).date()
        return format_html(
            '<a href="{}">occupancy</a> · <a href="{}">CSV of {}</a>',
            reverse("admin:meetings_meetingwindow_occupancy", args=[window.pk]),
            reverse("admin:meetings_meeting_export") + f"?conference={window.conference.slug}&day={day.isoformat()}",
            day.isoformat(),
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MeetingWindowAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["conference", "starts_at", "ends_at", "slot_minutes", "tables"]
        return ["conference", "starts_at", "ends_at", "slot_minutes"]

    def get_readonly_fields(self, request, obj=None):
        # Slots are cut when the window is made; moving it would strand its meetings.
        return ["conference", "starts_at", "ends_at", "slot_minutes"] if obj else []

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_form(self, request, form, change):
        if not change:
            return form.created_window
        return super().save_form(request, form, change)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def get_urls(self):
        return [
            path(
                "<int:window_id>/occupancy/",
                self.admin_site.admin_view(self.occupancy_view),
                name="meetings_meetingwindow_occupancy",
            ),
            *super().get_urls(),
        ]

    def occupancy_view(self, request, window_id: int):
        """One row per slot, one column per table: who meets there (accepted meetings only)."""
        if not self.has_view_permission(request):
            raise Http404
        window = get_object_or_404(self.get_queryset(request).select_related("conference"), pk=window_id)
        zone = ZoneInfo(window.conference.timezone)
        tables = list(window.tables.order_by("position", "id"))
        meetings = Meeting.objects.filter(slot__window=window, status=MeetingStatus.ACCEPTED).select_related(
            "requester", "recipient"
        )
        by_cell = {(m.slot_id, m.table_id): m for m in meetings}
        rows = []
        for slot in window.slots.order_by("starts_at"):
            cells = [by_cell.get((slot.pk, table.pk)) for table in tables]
            rows.append(
                {
                    "label": f"{timezone.localtime(slot.starts_at, zone):%H:%M}–{timezone.localtime(slot.ends_at, zone):%H:%M}",
                    "cells": [
                        f"{m.requester.get_display_name()} ↔ {m.recipient.get_display_name()}" if m else ""
                        for m in cells
                    ],
                    "used": sum(1 for m in cells if m),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Table occupancy: {window}",
            "window": window,
            "tables": tables,
            "rows": rows,
            "timezone": window.conference.timezone,
        }
        return TemplateResponse(request, "admin/meetings/meetingwindow/occupancy.html", context)


class DayExportForm(forms.Form):
    conference = forms.SlugField()
    day = forms.DateField()


@admin.register(Meeting)
class MeetingAdmin(ConferenceScopedAdmin):
    list_display = ["id", "conference", "starts_at", "table", "requester", "recipient", "status", "reminded_at"]
    list_filter = ["status", "conference"]
    search_fields = [
        "requester__username",
        "requester__first_name",
        "requester__last_name",
        "recipient__username",
        "recipient__first_name",
        "recipient__last_name",
        "=id",
    ]
    list_select_related = ["conference", "requester", "recipient", "table"]
    date_hierarchy = "starts_at"
    actions = ["cancel_meetings"]
    readonly_fields = [f.name for f in Meeting._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting would free a table without telling anyone: cancel instead.
        return False

    @admin.action(description="Cancel the selected meetings (both people are told)")
    def cancel_meetings(self, request, queryset):
        cancelled = sum(staff_cancel_meeting(meeting) for meeting in queryset)
        self.message_user(request, f"Cancelled {cancelled} meeting(s).", messages.SUCCESS)

    def get_urls(self):
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="meetings_meeting_export"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """``?conference=<slug>&day=YYYY-MM-DD``: that day's accepted meetings as CSV, for the venue staff."""
        if not self.has_view_permission(request):
            raise Http404
        form = DayExportForm(request.GET)
        if not form.is_valid():
            return HttpResponse(
                "Give ?conference=<slug>&day=YYYY-MM-DD.", status=400, content_type="text/plain; charset=utf-8"
            )
        conference = get_object_or_404(conferences_for(request), slug=form.cleaned_data["conference"])
        return meetings_csv(conference, form.cleaned_data["day"])
