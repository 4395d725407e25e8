from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ATTENDEE = "attendee", "Attendee"
    SPEAKER = "speaker", "Speaker"
    ORGANIZER = "organizer", "Organizer"
    STAFF = "staff", "Staff"
    ADMIN = "admin", "Admin"


class EnrichmentStatus(models.TextChoices):
    NONE = "", "Not requested"
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


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


def _calendar_token() -> str:
    return secrets.token_urlsafe(24)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str | None = None, password: str | None = None, **fields) -> User:
        user = self.model(email=self.normalize_email(email) if email else None, **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """
    An attendee, speaker, organizer or admin.

    Attendees exist through Telegram (``telegram_id``) and never have a
    password; people who sign in to Django admin have an email and password.
    ``username`` is the Telegram handle, which people may change or not have.
    """

    telegram_id = models.BigIntegerField(unique=True, null=True, blank=True)
    email = models.EmailField(unique=True, null=True, blank=True)
    username = models.CharField(max_length=64, blank=True, db_index=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    display_name = models.CharField(
        max_length=150, blank=True, help_text="Overrides the name built from first and last name."
    )
    bio = models.TextField(blank=True, max_length=2000)
    company = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    twitter = models.CharField(max_length=100, blank=True)
    linkedin = models.CharField(max_length=300, blank=True)
    interests = models.JSONField(default=list, blank=True)
    avatar = models.FileField(upload_to="avatars/", blank=True)
    photo_url = models.URLField(max_length=500, blank=True, help_text="Telegram profile photo.")
    roles = models.JSONField(default=list, blank=True, help_text="Any of: attendee, speaker, organizer, staff.")
    notify_telegram = models.BooleanField(default=True)
    # Off after "Mute reminders" under a session reminder on Telegram; /unmute turns it on again.
    session_reminders = models.BooleanField(default=True, db_default=True)
    directory_visible = models.BooleanField(default=False)
    points = models.IntegerField(default=0, help_text="Sum of the points ledger, kept in step with it.")

    # Set by the bot's /start: where Telegram messages go. Cleared when the
    # user blocks the bot (Telegram answers 403), so no more attempts are made.
    telegram_chat_id = models.BigIntegerField(null=True, blank=True)
    telegram_blocked_at = models.DateTimeField(null=True, blank=True)

    calendar_token = models.CharField(max_length=64, unique=True, default=_calendar_token)

    enrichment_status = models.CharField(max_length=10, choices=EnrichmentStatus.choices, blank=True, default="")
    enrichment_summary = models.TextField(blank=True)
    enrichment_tags = models.JSONField(default=list, blank=True)
    enrichment_openers = models.JSONField(default=list, blank=True)
    enrichment_error = models.CharField(max_length=500, blank=True)
    enriched_at = models.DateTimeField(null=True, blank=True)

    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Admin: may use Django admin and admin endpoints.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["-points", "id"], name="user_points_idx")]

    def __str__(self) -> str:
        return self.get_display_name() or f"user {self.pk}"

    def get_display_name(self) -> str:
        if self.display_name:
            return self.display_name
        full = f"{self.first_name} {self.last_name}".strip()
        return full or (f"@{self.username}" if self.username else (self.email or ""))

    def get_full_name(self) -> str:
        return self.get_display_name()

    def get_short_name(self) -> str:
        return self.first_name or self.get_display_name()

    def get_roles(self) -> list[str]:
        roles = [r for r in Role.values if r in self.roles and r != Role.ADMIN]
        if self.is_staff:
            roles.append(Role.ADMIN)
        return roles or [Role.ATTENDEE]

    def has_role(self, role: str) -> bool:
        return role in self.get_roles()

    @property
    def can_receive_telegram(self) -> bool:
        return bool(self.telegram_chat_id and self.notify_telegram and self.telegram_blocked_at is None)


class EnrichmentRun(models.Model):
    """
    One enrichment of one user: the history behind the status on the user.
    The latest run of a user decides the cooldown; an older run still
    waiting when a newer one exists is superseded, not executed.

    The table keeps the name it had in ``integrations`` (where the model
    lived until issue #11), so existing rows stay where they are.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="enrichment_runs")
    trigger = models.CharField(max_length=10, choices=EnrichmentTrigger.choices)
    status = models.CharField(max_length=10, choices=EnrichmentRunStatus.choices, default=EnrichmentRunStatus.PENDING)
    error = models.CharField(max_length=500, blank=True)
    ai_called = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "integrations_enrichmentrun"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="integration_user_id_f20ac3_idx")]

    def __str__(self) -> str:
        return f"enrichment {self.pk} of user {self.user_id} ({self.status})"


class AIUsage(models.Model):
    """AI calls made per UTC day, counted against ``ENRICHMENT_DAILY_AI_BUDGET`` (table kept from ``integrations``)."""

    day = models.DateField(unique=True)
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "integrations_aiusage"
        ordering = ["-day"]
        verbose_name_plural = "AI usage"

    def __str__(self) -> str:
        return f"{self.day}: {self.calls} AI calls"


class BotLoginToken(models.Model):
    """
    A one-time login through the bot: the app shows the deep link, the user
    sends ``/start login_<token>`` to the bot, the app's poll collects tokens once.
    """

    token = models.CharField(max_length=58, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"bot login {self.token[:6]}…"
