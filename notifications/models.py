from django.conf import settings
from django.db import models


class NotificationKind(models.TextChoices):
    """Every kind of notification the API contract (v1.1 + v1.2) names; nothing else is stored."""

    BROADCAST = "broadcast", "Broadcast"
    SESSION_REMINDER = "session_reminder", "Session reminder"
    SESSION_CHANGED = "session_changed", "Session changed"
    SESSION_CANCELLED = "session_cancelled", "Session cancelled"
    EVENT_CHANGED = "event_changed", "Event changed"
    EVENT_CANCELLED = "event_cancelled", "Event cancelled"
    EVENT_MESSAGE = "event_message", "Message from an event host"
    WAITLIST_PROMOTED = "waitlist_promoted", "Promoted from the waitlist"
    CONNECTION_REQUEST = "connection_request", "Connection request"
    CONNECTION_ACCEPTED = "connection_accepted", "Connection accepted"
    MEETING_REQUESTED = "meeting_requested", "Meeting requested"
    MEETING_ACCEPTED = "meeting_accepted", "Meeting accepted"
    MEETING_DECLINED = "meeting_declined", "Meeting declined"
    MEETING_CANCELLED = "meeting_cancelled", "Meeting cancelled"
    MEETING_REMINDER = "meeting_reminder", "Meeting reminder"
    SUBMISSION_REVIEWED = "submission_reviewed", "Submission reviewed"
    SPRINT_WON = "sprint_won", "Sprint won"
    CHAT_UNLINKED = "chat_unlinked", "Chat unlinked"


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=50, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["user", "read_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"


class Channel(models.TextChoices):
    IN_APP = "in_app", "In-app"
    TELEGRAM = "telegram", "Telegram"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    # Marked just before the Telegram request and cleared just after it: a row
    # found here after a crash may or may not have reached Telegram.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# How a Telegram row that failed because the person blocked the bot (a 403) starts its ``error``.
BLOCKED_ERROR_PREFIX = "Blocked: "


class AbstractDelivery(models.Model):
    """
    One message to one person on one channel, and the state of sending it.
    ``notifications.delivery`` sends the Telegram rows of any concrete
    subclass: ``TelegramDelivery`` here (the Telegram copy of a ``notify``
    call) and ``broadcasts.Delivery`` (a broadcast's recipients).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A batch task holds the pending rows it claimed until then; a crashed
    # task's rows (never sent: still pending) are claimable again after it.
    claimed_until = models.DateTimeField(null=True, blank=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.channel} to {self.user_id} ({self.state})"

    def message(self) -> tuple[str, str] | None:
        """The ``(title, body)`` to send, or ``None`` when its source is gone."""
        raise NotImplementedError

    def buttons(self) -> list[dict[str, str]] | None:
        """The inline buttons under the Telegram message (see ``notifications.buttons``); none by default."""
        return None


class TelegramDelivery(AbstractDelivery):
    """The Telegram copy of one ``notify`` notification to one person."""

    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="telegram_deliveries"
    )

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="notif_tgdelivery_due_idx")]

    def message(self) -> tuple[str, str] | None:
        if self.notification is None:
            return None
        return self.notification.title, self.notification.body

    def buttons(self) -> list[dict[str, str]] | None:
        # notifications.buttons imports this module (Notification, NotificationKind).
        from notifications.buttons import buttons_for

        return None if self.notification is None else buttons_for(self.notification)
