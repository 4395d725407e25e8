"""
Django admin for broadcasts. Creating a broadcast here goes through
``services.create_broadcast`` like the API (so a scheduled one fires by
itself at ``send_at``); the change page shows its progress bar.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils.html import format_html

from broadcasts import audiences, services
from broadcasts.models import CHANNEL_CHOICES, Broadcast, BroadcastStatus, Delivery, Segment
from ibw.errors import ApplicationError
from notifications.models import Channel, DeliveryState


class BroadcastForm(forms.ModelForm):
    segment = forms.ChoiceField(choices=Segment.choices, initial=Segment.ALL)
    conference = forms.SlugField(required=False, help_text="Conference slug; empty for every conference.")
    event = forms.IntegerField(required=False, help_text="Event id, for the event_going segment.")
    quest = forms.IntegerField(required=False, help_text="Quest id, for the quest_completed segment.")
    channel_choices = forms.MultipleChoiceField(
        label="Channels",
        choices=CHANNEL_CHOICES,
        initial=[Channel.IN_APP, Channel.TELEGRAM],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Broadcast
        fields = ["title", "body", "send_at"]

    def clean(self):
        data = super().clean()
        audience = {
            k: data.get(k) for k in ("segment", "conference", "event", "quest") if data.get(k) not in (None, "")
        }
        try:
            data["audience"] = audiences.normalize_audience(audience)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


class DeliveryInline(admin.TabularInline):
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


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "status", "send_at", "total", "sent", "failed", "progress_bar", "created_at"]
    list_filter = ["status"]
    search_fields = ["title"]
    actions = ["cancel_selected"]
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
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["title", "body", "segment", "conference", "event", "quest", "channel_choices", "send_at"]
        return self.readonly

    def get_readonly_fields(self, request, obj=None):
        return self.readonly if obj is not None else []

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.is_active

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
