"""
Django admin for chat links: adding one runs the same Telegram checks as
the API (``services.link_chat``); deleting one revokes its invite links.
Staff only: co-organizers and hosts link their chats through the API.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from chats import services
from chats.models import ChatLink, ChatPost, JoinRequest
from ibw.errors import ApplicationError


class ChatLinkAddForm(forms.ModelForm):
    class Meta:
        model = ChatLink
        fields = ["conference", "event", "chat_id", "purpose"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        owner = cleaned.get("conference") or cleaned.get("event")
        if owner is None or (cleaned.get("conference") and cleaned.get("event")):
            raise forms.ValidationError("Choose a conference or a side event (one of them).")
        try:
            # The link is stored here, after Telegram's checks; save_model has nothing left to do.
            self.instance, _ = services.link_chat(
                owner, chat_id=cleaned["chat_id"], purpose=cleaned["purpose"], by=getattr(self, "user", None)
            )
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        return cleaned


@admin.register(ChatLink)
class ChatLinkAdmin(admin.ModelAdmin):
    list_display = ["title", "chat_id", "purpose", "status", "conference", "event", "created_at"]
    list_filter = ["conference", "purpose", "status"]
    search_fields = ["title", "chat_id"]
    autocomplete_fields = ["conference", "event"]
    actions = ["unlink"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ChatLinkAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["conference", "event", "chat_id", "title", "type", "purpose", "status", "linked_by"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the "unlink" action revokes invite links first

    @admin.action(description="Unlink (revoke every invite link given out)")
    def unlink(self, request, queryset):
        for link in queryset:
            try:
                services.unlink_chat(link)
            except ApplicationError as exc:
                self.message_user(request, f"{link}: {exc.message}", messages.ERROR)
                return
        self.message_user(request, "Unlinked.")


@admin.register(JoinRequest)
class JoinRequestAdmin(admin.ModelAdmin):
    list_display = ["telegram_user_id", "chat", "decision", "state", "requested_at", "sent_at"]
    list_filter = ["chat__conference", "decision", "state"]
    readonly_fields = [f.name for f in JoinRequest._meta.fields]


@admin.register(ChatPost)
class ChatPostAdmin(admin.ModelAdmin):
    list_display = ["source", "chat", "state", "sent_at"]
    list_filter = ["chat__conference", "state"]
    readonly_fields = [f.name for f in ChatPost._meta.fields]
