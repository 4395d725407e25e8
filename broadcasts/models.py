"""
Broadcasts: one message to an audience segment, and its deliveries. The
tables are the ones these models had in ``notifications`` (``db_table``,
index and constraint names kept), so moving the app moved no row.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from notifications.models import AbstractDelivery, Channel

# A broadcast channel that is not a person's: one post into each active
# announcements chat of the audience's conference (``chats.ChatPost`` rows).
TELEGRAM_CHATS = "telegram_chats"
CHANNEL_CHOICES = [*Channel.choices, (TELEGRAM_CHATS, "Telegram announcement chats")]


class Segment(models.TextChoices):
    ALL = "all", "Everyone"
    ATTENDEES = "attendees", "Registered attendees"
    CHECKED_IN = "checked_in", "Checked-in attendees"
    EVENT_GOING = "event_going", "Going to an event"
    QUEST_COMPLETED = "quest_completed", "Completed a quest"
    SESSION_BOOKMARKED = "session_bookmarked", "Bookmarked a session"


class BroadcastStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class Broadcast(models.Model):
    """
    A message to an audience segment. Starting it expands the audience into
    one ``Delivery`` per (recipient, channel); ``total``/``sent``/``failed``
    are counts of those rows, refreshed as batches finish.
    """

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # {"segment": ..., "conference": slug?, "event": id?, "quest": id?}
    audience = models.JSONField(default=dict)
    channels = models.JSONField(default=list)
    send_at = models.DateTimeField(null=True, blank=True, help_text="Empty: send at once.")
    status = models.CharField(max_length=10, choices=BroadcastStatus.choices, default=BroadcastStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # In-app socket pushes the channel layer refused (a full socket-process queue): in the REST inbox only.
    socket_refused = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "notifications_broadcast"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "send_at"], name="notificatio_status_6dc488_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status in (BroadcastStatus.SCHEDULED, BroadcastStatus.QUEUED, BroadcastStatus.SENDING)


class Delivery(AbstractDelivery):
    """One broadcast's message to one recipient on one channel."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="deliveries")

    class Meta:
        db_table = "notifications_delivery"
        constraints = [
            models.UniqueConstraint(
                fields=["broadcast", "user", "channel"],
                condition=Q(broadcast__isnull=False),
                name="delivery_unique_per_broadcast",
            ),
        ]
        indexes = [
            models.Index(fields=["broadcast", "channel", "state", "id"], name="notificatio_broadca_eb759d_idx"),
            models.Index(fields=["state", "next_attempt_at"], name="notificatio_state_ed5af9_idx"),
        ]

    def message(self) -> tuple[str, str] | None:
        return self.broadcast.title, self.broadcast.body
