"""
Telegram chats linked to a conference or a side event, the personal invite
links given out for them, the join requests the bot decided, and the posts
made into them. Every "once" is a unique constraint: one link per chat, one
invite link per person and chat, one decision per join request, one post
per message and chat.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from notifications.models import DeliveryState


class ChatPurpose(models.TextChoices):
    COMMUNITY = "community", "Community group"
    ANNOUNCEMENTS = "announcements", "Announcements"


class ChatStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    # The bot was removed or lost a right it needs (or the link is being deleted).
    INACTIVE = "inactive", "Inactive"


class ChatLink(models.Model):
    """A Telegram group or channel kept for the people of one conference or one side event."""

    conference = models.ForeignKey(
        "conferences.Conference", null=True, blank=True, on_delete=models.CASCADE, related_name="chat_links"
    )
    event = models.ForeignKey(
        "events.Event", null=True, blank=True, on_delete=models.CASCADE, related_name="chat_links"
    )
    # Telegram's id (negative for groups and channels); a chat belongs to one conference or event.
    chat_id = models.BigIntegerField(unique=True)
    title = models.CharField(max_length=255, blank=True)
    type = models.CharField(max_length=20)
    purpose = models.CharField(max_length=20, choices=ChatPurpose.choices)
    status = models.CharField(max_length=10, choices=ChatStatus.choices, default=ChatStatus.ACTIVE)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(conference__isnull=False, event__isnull=True)
                | Q(conference__isnull=True, event__isnull=False),
                name="chatlink_one_owner",
            ),
        ]
        indexes = [models.Index(fields=["conference", "purpose", "status"], name="chatlink_conference_idx")]

    def __str__(self) -> str:
        return f"{self.title or self.chat_id} ({self.purpose})"

    @property
    def is_active(self) -> bool:
        return self.status == ChatStatus.ACTIVE


class InviteLink(models.Model):
    """
    One person's invite link to one chat (``creates_join_request``). The row
    is inserted empty first and filled under its row lock, so however many
    requests race, Telegram is asked once.
    """

    chat = models.ForeignKey(ChatLink, on_delete=models.CASCADE, related_name="invite_links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    invite_link = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chat", "user"], name="invitelink_one_per_person")]

    def __str__(self) -> str:
        return self.invite_link or f"(pending) {self.chat_id}/{self.user_id}"


class JoinDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    DECLINE = "decline", "Decline"


class JoinRequest(models.Model):
    """
    A ``chat_join_request`` decided by the database: the row is the
    decision (its unique key is Telegram's request: chat, person, time), and
    ``state`` follows the one Telegram call that carries it out, with the
    states of ``notifications.delivery`` (``sending`` is set just before
    the request, ``sent`` just after).
    """

    chat = models.ForeignKey(ChatLink, on_delete=models.CASCADE, related_name="join_requests")
    telegram_user_id = models.BigIntegerField()
    # The request's ``date``: a person asking again later (after registering) is a new request.
    requested_at = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.CharField(max_length=10, choices=JoinDecision.choices)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["chat", "telegram_user_id", "requested_at"], name="joinrequest_decided_once"
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="joinrequest_state_idx")]

    def __str__(self) -> str:
        return f"{self.decision} {self.telegram_user_id} → {self.chat_id} ({self.state})"


class ChatPost(models.Model):
    """
    One message posted into one announcements chat: a broadcast's
    ``telegram_chats`` channel (``source`` ``broadcast:<id>``) or a schedule
    change (``schedule:<token>``). Unique per source and chat; sent with the
    row states of ``notifications.delivery`` (at most once when a worker dies
    mid-request).
    """

    chat = models.ForeignKey(ChatLink, on_delete=models.CASCADE, related_name="posts")
    source = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "chat"], name="chatpost_once_per_chat")]
        indexes = [models.Index(fields=["source", "state"], name="chatpost_source_idx")]

    def __str__(self) -> str:
        return f"{self.source} → {self.chat_id} ({self.state})"
