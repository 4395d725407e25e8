"""
Django admin for broadcasts. Creating a broadcast here goes through
``services.create_broadcast`` like the API (so a scheduled one fires by
itself at ``send_at``); the change page shows its progress bar. The add
form picks the audience's conference, event, quest and session from
searchable lists, shows the audience size as it changes (``audience/``, the
API preview's selector) and sends a test to the admin (``send-test/``);
``static/broadcasts/broadcast_form.js`` drives both.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.db.models import ForeignKey, QuerySet
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from broadcasts import audiences, services
from broadcasts.models import CHANNEL_CHOICES, Broadcast, BroadcastStatus, Delivery, Segment
from conferences.admin_scope import ScopedTabularInline, SlugScopedAdmin, is_site_admin, managed_slugs
from conferences.models import Bookmark, Conference
from events.models import RSVP, Event
from ibw.errors import ApplicationError, error_body
from notifications.models import Channel, DeliveryState
from quests.models import Task


def _searchable(source: ForeignKey, *, help_text: str) -> forms.ModelChoiceField:
    """
    An optional choice of ``source``'s target model from a searchable list:
    Django admin's autocomplete (select2) against the target's ModelAdmin
    ``search_fields``, with its view permission. ``source`` is any real
    foreign key to that model; the autocomplete view needs one to resolve it.
    """
    return forms.ModelChoiceField(
        queryset=source.related_model._default_manager.all(),
        required=False,
        widget=AutocompleteSelect(source, admin.site),
        help_text=help_text,
    )


class AudienceForm(forms.Form):
    """A segment and what it is about, checked by ``audiences.normalize_audience`` into ``cleaned_data["audience"]``."""

    segment = forms.ChoiceField(choices=Segment.choices, initial=Segment.ALL)
    conference = _searchable(Event._meta.get_field("conference"), help_text="Empty for every conference.")
    event = _searchable(RSVP._meta.get_field("event"), help_text="For the “Going to an event” segment.")
    quest = _searchable(Task._meta.get_field("quest"), help_text="For the “Completed a quest” segment.")
    session = _searchable(Bookmark._meta.get_field("session"), help_text="For the “Bookmarked a session” segment.")

    def clean(self):
        data = super().clean()
        audience = {"segment": data.get("segment")}
        if data.get("conference"):
            audience["conference"] = data["conference"].slug
        for name in ("event", "quest", "session"):
            if data.get(name):
                audience[name] = data[name].pk
        try:
            data["audience"] = audiences.normalize_audience(audience)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


class BroadcastForm(AudienceForm, forms.ModelForm):
    channel_choices = forms.MultipleChoiceField(
        label="Channels",
        choices=CHANNEL_CHOICES,
        initial=[Channel.IN_APP, Channel.TELEGRAM],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Broadcast
        fields = ["title", "body", "send_at"]


class TestSendForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(required=False, max_length=20000)


def _form_error(form: forms.Form) -> JsonResponse:
    errors = form.errors.get_json_data()
    first = next(iter(errors.values()))[0]["message"]
    return JsonResponse(
        error_body(first, "VALIDATION_ERROR", {k: [e["message"] for e in v] for k, v in errors.items()}), status=400
    )


class DeliveryInline(ScopedTabularInline):
    model = Delivery
    fields = ["user", "channel", "state", "attempts", "sent_at", "error"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "Failed deliveries (first 50)"

    def get_queryset(self, request):
        failed = super().get_queryset(request).filter(state=DeliveryState.FAILED).select_related("user")
        ids = list(failed.order_by("id").values_list("pk", flat=True)[:50])
        return failed.filter(pk__in=ids)


class AudienceConferenceFilter(admin.SimpleListFilter):
    """Broadcasts by the conference their audience names (``audience.conference``, a slug)."""

    title = "conference"
    parameter_name = "conference"

    def lookups(self, request, model_admin):
        conferences = Conference.objects.order_by("-starts_on", "name").only("slug", "name")
        if not is_site_admin(request):  # a co-organizer filters by their own conferences only
            conferences = conferences.filter(slug__in=managed_slugs(request))
        return [(c.slug, c.name) for c in conferences[:50]]

    def queryset(self, request, queryset):
        return queryset.filter(audience__conference=self.value()) if self.value() else queryset


def audience_within(form_class: type[forms.ModelForm], slugs: frozenset[str]) -> type[forms.ModelForm]:
    """``form_class`` that refuses an audience outside the conferences ``slugs`` (a co-organizer's)."""

    class ScopedForm(form_class):  # type: ignore[valid-type,misc]  # a subclass of the class given at run time
        def clean(self):
            data = super().clean()
            if "audience" in data and data["audience"].get("conference") not in slugs:
                raise forms.ValidationError("Choose a conference you organize: you may message its people only.")
            return data

    return ScopedForm


@admin.register(Broadcast)
class BroadcastAdmin(SlugScopedAdmin):
    list_display = ["id", "title", "status", "send_at", "total", "sent", "failed", "progress_bar", "created_at"]
    list_filter = [AudienceConferenceFilter, "status"]
    search_fields = ["title"]
    actions = ["cancel_selected"]
    conference_path = "audience__conference"
    inlines = [DeliveryInline]
    readonly = [
        "title",
        "body",
        "audience",
        "channels",
        "send_at",
        "status",
        "progress_bar",
        "total",
        "sent",
        "failed",
        "socket_refused",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = BroadcastForm
        form = super().get_form(request, obj, **kwargs)
        if obj is None and not is_site_admin(request):
            return audience_within(form, managed_slugs(request))
        return form

    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return [(None, {"fields": self.readonly})]
        # The audience size (kept up to date by broadcast_form.js) and the test button sit in the descriptions.
        size = format_html(
            '<p class="audience-size" id="audience-size" data-url="{}" aria-live="polite">Audience: …</p>',
            reverse("admin:broadcasts_broadcast_audience"),
        )
        test = format_html(
            '<p><button type="button" class="button" id="send-test" data-url="{}">Send a test to me</button> '
            '<span id="send-test-result" aria-live="polite">Only you get it: in-app, and on Telegram if you '
            "started the bot. Nothing is scheduled.</span></p>",
            reverse("admin:broadcasts_broadcast_send_test"),
        )
        return [
            ("Message", {"fields": ["title", "body"]}),
            ("Audience", {"fields": ["segment", "conference", "event", "quest", "session"], "description": size}),
            ("Delivery", {"fields": ["channel_choices", "send_at"]}),
            ("Before you schedule", {"fields": [], "description": test}),
        ]

    class Media:
        js = ["broadcasts/broadcast_form.js"]
        css = {"all": ["broadcasts/broadcast_form.css"]}

    def get_urls(self):
        return [
            path(
                "audience/",
                self.admin_site.admin_view(require_GET(self.audience_view)),
                name="broadcasts_broadcast_audience",
            ),
            path(
                "send-test/",
                self.admin_site.admin_view(require_POST(self.send_test_view)),
                name="broadcasts_broadcast_send_test",
            ),
            *super().get_urls(),
        ]

    def audience_view(self, request):
        """
        ``GET ?segment=&conference=&event=&quest=&session=`` (ids) → ``{"total", "audience"}``:
        how many people the segment reaches now, counted by the selector
        behind ``POST /api/v1/admin/broadcasts/preview/``; 400 with the error body when it names nothing.
        """
        if not self.has_add_permission(request):
            return JsonResponse(error_body("You may not compose broadcasts.", "PERMISSION_DENIED"), status=403)
        form = AudienceForm(request.GET)
        if not form.is_valid():
            return _form_error(form)
        audience = form.cleaned_data["audience"]
        if not is_site_admin(request) and audience.get("conference") not in managed_slugs(request):
            return JsonResponse(
                error_body("Choose a conference you organize: you may count its people only.", "PERMISSION_DENIED"),
                status=403,
            )
        return JsonResponse({"total": audiences.preview_audience(audience), "audience": audience})

    def send_test_view(self, request):
        """``POST title, body``: send them to the logged-in admin alone (``services.send_test_broadcast``)."""
        if not self.has_add_permission(request):
            return JsonResponse(error_body("You may not compose broadcasts.", "PERMISSION_DENIED"), status=403)
        form = TestSendForm(request.POST)
        if not form.is_valid():
            return _form_error(form)
        telegram = services.send_test_broadcast(
            title=form.cleaned_data["title"], body=form.cleaned_data["body"], to=request.user
        )
        return JsonResponse({"in_app": True, "telegram": telegram})

    def get_readonly_fields(self, request, obj=None):
        return self.readonly if obj is not None else []

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return (obj is None or not obj.is_active) and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = services.create_broadcast(
            title=form.cleaned_data["title"],
            body=form.cleaned_data.get("body") or "",
            audience=form.cleaned_data["audience"],
            channels=form.cleaned_data["channel_choices"],
            send_at=form.cleaned_data.get("send_at"),
            created_by=request.user if request.user.is_authenticated else None,
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    @admin.display(description="Progress")
    def progress_bar(self, obj: Broadcast) -> str:
        settled = obj.sent + obj.failed
        percent = round(100 * settled / obj.total) if obj.total else (100 if obj.status == "completed" else 0)
        return format_html(
            '<div style="width:240px;background:#eee;border-radius:3px;overflow:hidden;display:inline-block;'
            'vertical-align:middle"><div style="width:{}%;background:#417690;height:14px"></div></div>'
            " {}% &middot; {} sent, {} failed of {} ({})",
            percent,
            percent,
            obj.sent,
            obj.failed,
            obj.total,
            obj.get_status_display(),
        )

    @admin.action(description="Cancel the selected broadcasts")
    def cancel_selected(self, request, queryset: QuerySet[Broadcast]) -> None:
        cancelled = 0
        for broadcast in queryset.filter(
            status__in=[BroadcastStatus.SCHEDULED, BroadcastStatus.QUEUED, BroadcastStatus.SENDING]
        ):
            services.cancel_broadcast(broadcast)
            cancelled += 1
        self.message_user(request, f"Cancelled {cancelled} broadcast(s).", messages.SUCCESS)
