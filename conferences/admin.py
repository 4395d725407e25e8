"""
Django admin for organizers: the agenda by room and day, speakers linked to
accounts, schedule import from an uploaded file, attendee CSV export and
check-in. Admin actions call the same services as the API: every save and
delete of a conference, session, room, track or speaker (inlines included)
goes through ``conferences.services``, which raise the agenda version.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from conferences import services
from conferences.admin_scope import (
    ConferenceScopedAdmin,
    ScopedTabularInline,
    conferences_for,
    is_site_admin,
)
from conferences.models import (
    Attendance,
    AttendanceStatus,
    Bookmark,
    Conference,
    ConferenceOrganizer,
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


_SAVE = {
    Conference: services.save_conference,
    Session: services.save_session,
    Room: services.save_room,
    Track: services.save_track,
    Speaker: services.save_speaker,
}
_DELETE = {
    Conference: services.delete_conference,
    Session: services.delete_session,
    Room: services.delete_room,
    Track: services.delete_track,
    Speaker: services.delete_speaker,
}


class ThroughServicesMixin:
    """Saves and deletes (one, several, inline) go through ``conferences.services``."""

    def save_model(self, request, obj, form, change):
        _SAVE[type(obj)](obj)

    def delete_model(self, request, obj):
        _DELETE[type(obj)](obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            _DELETE[type(obj)](obj)

    def save_formset(self, request, form, formset, change):
        if formset.model not in _SAVE:
            return super().save_formset(request, form, formset, change)
        return save_inline_formset(formset)


def save_inline_formset(formset) -> list:
    """
    ``formset.save()`` through the services: each new or changed object is
    saved with its model's save service and each one marked for deletion is
    deleted with its delete service. Sets what the admin's change message reads.
    """
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    saved = []
    for form in formset.initial_forms:
        obj = form.instance
        if formset.can_delete and formset._should_delete_form(form):
            if obj.pk is not None:
                _DELETE[formset.model](obj)
                formset.deleted_objects.append(obj)
        elif form.has_changed():
            _SAVE[formset.model](form.save(commit=False))
            formset.changed_objects.append((obj, form.changed_data))
            saved.append(obj)
    for form in formset.extra_forms:
        if not form.has_changed() or (formset.can_delete and formset._should_delete_form(form)):
            continue
        obj = form.save(commit=False)
        setattr(obj, formset.fk.name, formset.instance)
        if isinstance(obj, Session):
            # The room admin's session inline: the session belongs to the room's conference.
            obj.conference = formset.instance.conference
        _SAVE[formset.model](obj)
        formset.new_objects.append(obj)
        saved.append(obj)
    return saved


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


class SessionInline(ScopedTabularInline):
    """A room's sessions. The conference is the room's and a new session gets a generated guid (see save_inline_formset)."""

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


class SessionSpeakerInline(ScopedTabularInline):
    model = SessionSpeaker
    autocomplete_fields = ["speaker"]
    fields = ["speaker", "position"]
    extra = 1


class RoomInline(ScopedTabularInline):
    model = Room
    fields = ["name", "position", "guid"]
    extra = 0
    show_change_link = True


class TrackInline(ScopedTabularInline):
    model = Track
    fields = ["name", "color"]
    extra = 0


class OrganizerInline(ScopedTabularInline):
    """
    The conference's co-organizers: admins add and remove them here (or over
    the API); the co-organizers themselves see the list.
    """

    model = ConferenceOrganizer
    fields = ["user", "added_at"]
    readonly_fields = ["added_at"]
    autocomplete_fields = ["user"]
    extra = 0
    verbose_name = "co-organizer"
    verbose_name_plural = "co-organizers (they manage this conference only)"

    # Naming co-organizers grants a right: admins only.
    def has_add_permission(self, request, obj) -> bool:
        return is_site_admin(request) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return is_site_admin(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return is_site_admin(request) and super().has_delete_permission(request, obj)


@admin.register(Conference)
class ConferenceAdmin(ThroughServicesMixin, ConferenceScopedAdmin):
    list_display = ["name", "slug", "starts_on", "ends_on", "timezone", "session_count", "attendee_count", "links"]
    search_fields = ["name", "slug", "venue"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [RoomInline, TrackInline, OrganizerInline]
    actions = ["import_schedule_action", "export_attendees_csv"]
    conference_path = "pk"
    readonly_fields = ["created_at", "updated_at", "schedule_synced_at", "schedule_sync_outcome", "schedule_etag"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                session_total=Count("sessions", distinct=True), attendee_total=Count("attendances", distinct=True)
            )
        )

    # Creating or deleting a whole conference is global: admins only (co-organizers edit theirs).
    def has_add_permission(self, request) -> bool:
        return is_site_admin(request) and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return is_site_admin(request) and super().has_delete_permission(request, obj)

    @admin.display(description="sessions", ordering="session_total")
    def session_count(self, conference: Conference) -> int:
        return conference.session_total

    @admin.display(description="attendees", ordering="attendee_total")
    def attendee_count(self, conference: Conference) -> int:
        return conference.attendee_total

    @admin.display(description="")
    def links(self, conference: Conference) -> str:
        # The dashboard page is the project's (dashboard.urls): linked by URL name, not imported.
        return format_html(
            '<a href="{}">dashboard</a> · <a href="{}">import schedule</a> · '
            '<a href="{}?conference__id__exact={}">sessions</a>',
            reverse("admin-conference-dashboard", args=[conference.pk]),
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
        conference = get_object_or_404(conferences_for(request), pk=conference_id)
        if not self.has_change_permission(request, conference):
            raise PermissionDenied
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
class RoomAdmin(ThroughServicesMixin, ConferenceScopedAdmin):
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
class TrackAdmin(ThroughServicesMixin, ConferenceScopedAdmin):
    list_display = ["name", "conference", "color"]
    list_filter = ["conference"]
    search_fields = ["name"]
    list_select_related = ["conference"]


@admin.register(Session)
class SessionAdmin(ThroughServicesMixin, ConferenceScopedAdmin):
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

    def save_formset(self, request, form, formset, change):
        if formset.model is not SessionSpeaker:
            return super().save_formset(request, form, formset, change)
        # The speakers inline: the session's speakers in the order of their
        # positions, set through the service (which raises the agenda version).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if not formset.has_changed():
            return []
        kept = [
            (f.cleaned_data.get("position") or 0, index, f.cleaned_data["speaker"])
            for index, f in enumerate(formset.forms)
            if f.cleaned_data.get("speaker") and not formset._should_delete_form(f)
        ]
        services.set_session_speakers(form.instance, speakers=[speaker for *_, speaker in sorted(kept)])
        return []


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
class SpeakerAdmin(ThroughServicesMixin, ConferenceScopedAdmin):
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
class AttendanceAdmin(ConferenceScopedAdmin):
    list_display = ["user", "conference", "status", "badge_code", "registered_at", "checked_in_at", "checked_in_by"]
    list_filter = ["conference", "status"]
    search_fields = ["badge_code", "user__first_name", "user__last_name", "user__username", "user__company"]
    list_select_related = ["user", "conference", "checked_in_by"]
    autocomplete_fields = ["user"]
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
class BookmarkAdmin(ConferenceScopedAdmin):
    conference_path = "session__conference"

    list_display = ["user", "session", "created_at", "reminded_at"]
    list_filter = ["session__conference"]
    autocomplete_fields = ["user", "session"]
    list_select_related = ["user", "session"]
