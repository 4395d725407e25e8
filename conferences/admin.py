"""
Django admin for organizers: the agenda by room and day, speakers linked to
accounts, schedule import from an uploaded file, attendee CSV export and
check-in. Admin actions call the same services as the API.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from conferences.models import (
    Attendance,
    AttendanceStatus,
    Bookmark,
    Conference,
    Room,
    Session,
    SessionSpeaker,
    Speaker,
    Track,
)
from conferences.selectors import day_bounds
from conferences.services import check_in_attendee, decode_schedule, import_schedule
from ibw.errors import ApplicationError

ATTENDEE_CSV_COLUMNS = [
    "conference",
    "user_id",
    "name",
    "username",
    "company",
    "job_title",
    "status",
    "badge_code",
    "registered_at",
    "checked_in_at",
]


def attendees_csv(attendances: QuerySet[Attendance], *, filename: str) -> HttpResponse:
    """Attendances as a CSV download, one row each."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(ATTENDEE_CSV_COLUMNS)
    for attendance in attendances.select_related("user", "conference").order_by("conference__slug", "id"):
        user = attendance.user
        writer.writerow(
            [
                attendance.conference.slug,
                user.pk,
                _safe_cell(user.get_display_name()),
                _safe_cell(user.username),
                _safe_cell(user.company),
                _safe_cell(user.job_title),
                attendance.status,
                attendance.badge_code,
                attendance.registered_at.isoformat(),
                attendance.checked_in_at.isoformat() if attendance.checked_in_at else "",
            ]
        )
    return response


def _safe_cell(value: str) -> str:
    # People type their own names and companies; a leading =, +, - or @ would
    # run as a formula when the organizer opens the file in a spreadsheet.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class ScheduleUploadForm(forms.Form):
    file = forms.FileField(help_text="A frab-compatible schedule.json, as pretalx or frab export it.")


class DayListFilter(admin.SimpleListFilter):
    """Sessions by day in their conference's time zone."""

    title = "day"
    parameter_name = "day"

    def lookups(self, request, model_admin):
        conference_id = request.GET.get("conference__id__exact")
        conferences = Conference.objects.all()
        if conference_id:
            conferences = conferences.filter(pk=conference_id)
        days = set()
        for conference in conferences[:20]:
            day = conference.starts_on
            while day <= conference.ends_on and len(days) < 60:
                days.add(day)
                day += timedelta(days=1)
        return [(day.isoformat(), day.strftime("%a %d %b %Y")) for day in sorted(days)]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            day = date.fromisoformat(self.value())
        except ValueError:
            return queryset.none()
        matching = Q(pk__in=[])
        for conference in Conference.objects.filter(pk__in=queryset.values("conference_id")):
            start, end = day_bounds(conference, day)
            matching |= Q(conference=conference, starts_at__gte=start, starts_at__lt=end)
        return queryset.filter(matching)


class SessionInline(admin.TabularInline):
    model = Session
    fields = ["title", "starts_at", "ends_at", "track", "type", "language"]
    ordering = ["starts_at"]
    extra = 0
    show_change_link = True

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:
            # Only this conference's tracks make sense for this room's sessions.
            formset.form.base_fields["track"].queryset = Track.objects.filter(conference=obj.conference)
        return formset


class SessionSpeakerInline(admin.TabularInline):
    model = SessionSpeaker
    autocomplete_fields = ["speaker"]
    fields = ["speaker", "position"]
    extra = 1


class RoomInline(admin.TabularInline):
    model = Room
    fields = ["name", "position", "guid"]
    extra = 0
    show_change_link = True


class TrackInline(admin.TabularInline):
    model = Track
    fields = ["name", "color"]
    extra = 0


@admin.register(Conference)
class ConferenceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "starts_on", "ends_on", "timezone", "session_count", "attendee_count", "links"]
    search_fields = ["name", "slug", "venue"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [RoomInline, TrackInline]
    actions = ["import_schedule_action", "export_attendees_csv"]
    readonly_fields = ["created_at", "updated_at", "schedule_synced_at", "schedule_sync_outcome", "schedule_etag"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                session_total=Count("sessions", distinct=True), attendee_total=Count("attendances", distinct=True)
            )
        )

    @admin.display(description="sessions", ordering="session_total")
    def session_count(self, conference: Conference) -> int:
        return conference.session_total

    @admin.display(description="attendees", ordering="attendee_total")
    def attendee_count(self, conference: Conference) -> int:
        return conference.attendee_total

    @admin.display(description="")
    def links(self, conference: Conference) -> str:
        return format_html(
            '<a href="{}">import schedule</a> · <a href="{}?conference__id__exact={}">sessions</a>',
            reverse("admin:conferences_conference_import", args=[conference.pk]),
            reverse("admin:conferences_session_changelist"),
            conference.pk,
        )

    def get_urls(self):
        return [
            path(
                "<int:conference_id>/import-schedule/",
                self.admin_site.admin_view(self.import_view),
                name="conferences_conference_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request, conference_id: int):
        """Upload a schedule.json and import it with the API's service."""
        conference = get_object_or_404(Conference, pk=conference_id)
        if not self.has_change_permission(request, conference):
            return HttpResponseRedirect(reverse("admin:index"))
        form = ScheduleUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                counts = import_schedule(conference, decode_schedule(form.cleaned_data["file"].read()))
            except ApplicationError as exc:
                form.add_error("file", exc.message)
                for problem in (exc.details or {}).get("schedule", [])[1:]:
                    form.add_error("file", problem)
            else:
                self.message_user(
                    request,
                    "Imported: {created} created, {updated} updated, {unchanged} unchanged, {removed} removed.".format(
                        **counts
                    ),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:conferences_conference_change", args=[conference.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import a schedule into {conference.name}",
            "conference": conference,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/conferences/conference/import_schedule.html", context)

    @admin.action(description="Import a schedule file into the selected conference")
    def import_schedule_action(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one conference to import into.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:conferences_conference_import", args=[queryset.get().pk]))

    @admin.action(description="Export attendees of the selected conferences as CSV")
    def export_attendees_csv(self, request, queryset):
        return attendees_csv(Attendance.objects.filter(conference__in=queryset), filename="attendees.csv")


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "conference", "position", "session_count"]
    list_filter = ["conference"]
    search_fields = ["name", "conference__name"]
    list_select_related = ["conference"]
    inlines = [SessionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(session_total=Count("sessions"))

    @admin.display(description="sessions", ordering="session_total")
    def session_count(self, room: Room) -> int:
        return room.session_total


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin):
    list_display = ["name", "conference", "color"]
    list_filter = ["conference"]
    search_fields = ["name"]
    list_select_related = ["conference"]


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["title", "conference", "starts_at", "ends_at", "room", "track", "type", "speaker_names"]
    list_filter = ["conference", DayListFilter, "room", "track", "type", "language"]
    search_fields = ["title", "abstract", "guid", "speakers__name"]
    date_hierarchy = "starts_at"
    ordering = ["starts_at", "room__position"]
    list_select_related = ["conference", "room", "track"]
    inlines = [SessionSpeakerInline]
    readonly_fields = ["created_at", "updated_at"]
    autocomplete_fields = ["room", "track"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("speakers")

    @admin.display(description="speakers")
    def speaker_names(self, session: Session) -> str:
        return ", ".join(speaker.name for speaker in session.speakers.all())

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # A change of speakers alone must still move the agenda's ETag.
        Session.objects.filter(pk=form.instance.pk).update(updated_at=timezone.now())


class LinkedToUserFilter(admin.SimpleListFilter):
    title = "linked to an account"
    parameter_name = "linked"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(user__isnull=False)
        if self.value() == "no":
            return queryset.filter(user__isnull=True)
        return queryset


@admin.register(Speaker)
class SpeakerAdmin(admin.ModelAdmin):
    list_display = ["name", "conference", "external_id", "user", "session_count"]
    list_filter = ["conference", LinkedToUserFilter]
    search_fields = ["name", "external_id", "bio"]
    list_select_related = ["conference", "user"]
    # Link a speaker to the attendee account they log in with (search by name, handle, Telegram id).
    autocomplete_fields = ["user"]
    readonly_fields = ["updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(session_total=Count("sessions"))

    @admin.display(description="sessions", ordering="session_total")
    def session_count(self, speaker: Speaker) -> int:
        return speaker.session_total


@admin.register(Attendance)
class AttendanceAdmin(admin.ModelAdmin):
    list_display = ["user", "conference", "status", "badge_code", "registered_at", "checked_in_at", "checked_in_by"]
    list_filter = ["conference", "status"]
    search_fields = ["badge_code", "user__first_name", "user__last_name", "user__username", "user__company"]
    list_select_related = ["user", "conference", "checked_in_by"]
    raw_id_fields = ["user", "checked_in_by"]
    readonly_fields = ["badge_code", "registered_at", "checked_in_at", "checked_in_by"]
    actions = ["export_csv", "check_in"]

    @admin.action(description="Export the selected attendees as CSV")
    def export_csv(self, request, queryset):
        return attendees_csv(queryset, filename="attendees.csv")

    @admin.action(description="Check the selected attendees in")
    def check_in(self, request, queryset):
        count = 0
        for attendance in queryset.filter(status=AttendanceStatus.REGISTERED).select_related("conference"):
            check_in_attendee(attendance.conference, badge_code=attendance.badge_code, by=request.user)
            count += 1
        self.message_user(request, f"Checked in {count} attendee(s).", messages.SUCCESS)


@admin.register(Bookmark)
class BookmarkAdmin(admin.ModelAdmin):
    list_display = ["user", "session", "created_at", "reminded_at"]
    list_filter = ["session__conference"]
    raw_id_fields = ["user", "session"]
    list_select_related = ["user", "session"]
