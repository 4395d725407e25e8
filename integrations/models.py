from __future__ import annotations

from django.conf import settings
from django.db import models


class ProcessedUpdate(models.Model):
    """
    A Telegram update accepted once. Telegram re-sends an update until it
    gets a 200, so the unique ``update_id`` is what makes handling idempotent:
    the row is inserted in the transaction that accepts the update, and a
    second insert of the same id fails instead of acting twice.
    """

    update_id = models.BigIntegerField(unique=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-update_id"]

    def __str__(self) -> str:
        return f"update {self.update_id}"


class EnrichmentRunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    SUPERSEDED = "superseded", "Superseded by a newer run"


class EnrichmentTrigger(models.TextChoices):
    REQUEST = "request", "Requested by the user"
    PROFILE = "profile", "Profile links changed"
    ADMIN = "admin", "Re-enrich by an admin"


class EnrichmentRun(models.Model):
    """
    One enrichment of one user: the history behind the status on the user.
    The latest run of a user decides the cooldown; an older run still
    waiting when a newer one exists is superseded, not executed.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrichment_runs")
    trigger = models.CharField(max_length=10, choices=EnrichmentTrigger.choices)
    status = models.CharField(max_length=10, choices=EnrichmentRunStatus.choices, default=EnrichmentRunStatus.PENDING)
    error = models.CharField(max_length=500, blank=True)
    ai_called = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"enrichment {self.pk} of user {self.user_id} ({self.status})"


class AIUsage(models.Model):
    """AI calls made per UTC day, counted against ``ENRICHMENT_DAILY_AI_BUDGET``."""

    day = models.DateField(unique=True)
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        verbose_name_plural = "AI usage"

    def __str__(self) -> str:
        return f"{self.day}: {self.calls} AI calls"
