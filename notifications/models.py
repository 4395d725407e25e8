from django.conf import settings
from django.db import models
from django.db.models import Q


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=50)
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


class Segment(models.TextChoices):
    ALL = "all", "Everyone"
    ATTENDEES = "attendees", "Registered attendees"
    CHECKED_IN = "checked_in", "Checked-in attendees"
    EVENT_GOING = "event_going", "Going to an event"
    QUEST_COMPLETED = "quest_completed", "Completed a quest"


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
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "send_at"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status in (BroadcastStatus.SCHEDULED, BroadcastStatus.QUEUED, BroadcastStatus.SENDING)


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    # Marked just before the Telegram request and cleared just after it: a row
    # found here after a crash may or may not have reached Telegram.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Delivery(models.Model):
    """
    One message to one person on one channel: a broadcast's recipient, or
    the Telegram copy of a ``notify`` call (``broadcast`` empty,
    ``notification`` set).
    """

    broadcast = models.ForeignKey(Broadcast, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
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
        constraints = [
            models.UniqueConstraint(
                fields=["broadcast", "user", "channel"],
                condition=Q(broadcast__isnull=False),
                name="delivery_unique_per_broadcast",
            ),
        ]
        indexes = [
            models.Index(fields=["broadcast", "channel", "state", "id"]),
            models.Index(fields=["state", "next_attempt_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.user_id} ({self.state})"
