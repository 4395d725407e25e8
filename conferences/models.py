from __future__ import annotations

import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone.")


# Badge codes avoid look-alike characters (0/O, 1/I) since people read them off screens.
_BADGE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_badge_code() -> str:
    return "".join(secrets.choice(_BADGE_ALPHABET) for _ in range(12))


class Conference(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    venue = models.CharField(max_length=300, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    starts_on = models.DateField()
    ends_on = models.DateField()
    # Raised (by conferences.services only) in the transaction of every change
    # that the schedule documents show; their ETag and cache key carry it.
    agenda_version = models.PositiveBigIntegerField(default=1, editable=False)
    # A pretalx/frab schedule.json re-imported every SCHEDULE_SYNC_MINUTES
    # (admin-only); the ETag of the last good fetch is sent as If-None-Match.
    # Database defaults, so rows written by code that predates these columns still insert.
    schedule_url = models.URLField(max_length=500, blank=True, db_default="")
    schedule_etag = models.CharField(max_length=500, blank=True, db_default="")
    schedule_synced_at = models.DateTimeField(null=True, blank=True)
    schedule_sync_outcome = models.CharField(max_length=500, blank=True, db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_on", "slug"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="conference_dates_ordered")
        ]

    def __str__(self) -> str:
        return self.name


class Room(models.Model):
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="rooms")
    name = models.CharField(max_length=200)
    guid = models.CharField(max_length=64, blank=True)
    position = models.PositiveIntegerField(default=0)
    # Part of the agenda's ETag: renaming a room changes every session showing it.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "name"]
        constraints = [models.UniqueConstraint(fields=["conference", "name"], name="room_unique_name")]

    def __str__(self) -> str:
        return self.name


class Track(models.Model):
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="tracks")
    name = models.CharField(max_length=200)
    color = models.CharField(max_length=16, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["conference", "name"], name="track_unique_name")]

    def __str__(self) -> str:
        return self.name


class Speaker(models.Model):
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="speakers")
    # The exporter's guid or code; empty when the file gives neither (keyed by name then).
    external_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=200)
    bio = models.TextField(blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    links = models.JSONField(default=list, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="speaker_profiles"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conference", "external_id"], condition=~Q(external_id=""), name="speaker_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Session(models.Model):
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="sessions")
    # The event guid from the schedule file; generated for sessions created by hand.
    guid = models.CharField(max_length=64)
    title = models.CharField(max_length=300)
    abstract = models.TextField(blank=True)
    description = models.TextField(blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions")
    track = models.ForeignKey(Track, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions")
    type = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=16, blank=True)
    url = models.URLField(max_length=500, blank=True)
    speakers = models.ManyToManyField(Speaker, through="SessionSpeaker", related_name="sessions", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped by every change, including a change of speakers (the importer and
    # the admin save the session then), so max(updated_at) fingerprints the agenda.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "guid"], name="session_unique_guid"),
            models.CheckConstraint(condition=Q(ends_at__gte=F("starts_at")), name="session_times_ordered"),
        ]
        indexes = [
            models.Index(fields=["conference", "starts_at"]),
            # The reminder job scans a time window across all conferences.
            models.Index(fields=["starts_at"], name="session_starts_at_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class SessionSpeaker(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE)
    speaker = models.ForeignKey(Speaker, on_delete=models.CASCADE)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["session", "speaker"], name="session_speaker_unique")]

    def __str__(self) -> str:
        return f"{self.speaker_id} in {self.session_id}"


class Bookmark(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bookmarks")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="bookmarks")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the reminder went out, so each user is reminded once per session.
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "session"], name="bookmark_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} bookmarked {self.session_id}"


class AttendanceStatus(models.TextChoices):
    REGISTERED = "registered", "Registered"
    CHECKED_IN = "checked_in", "Checked in"


class Attendance(models.Model):
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="attendances")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attendances")
    status = models.CharField(max_length=12, choices=AttendanceStatus.choices, default=AttendanceStatus.REGISTERED)
    badge_code = models.CharField(max_length=16, unique=True, default=new_badge_code)
    registered_at = models.DateTimeField(auto_now_add=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conference", "user"], name="attendance_unique")]
        indexes = [models.Index(fields=["conference", "status"])]

    def __str__(self) -> str:
        return f"{self.user} at {self.conference}"


class ConferenceOrganizer(models.Model):
    """A co-organizer: may do, for this conference only, what an admin does on its paths."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="organizers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organized_conferences")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["conference", "user"], name="conference_organizer_unique")]

    def __str__(self) -> str:
        return f"{self.user} organizes {self.conference}"


class PendingSessionChange(models.Model):
    """
    A schedule change of one session waiting out SCHEDULE_CHANGE_DEBOUNCE_SECONDS
    before its bookmarkers are told (``conferences.changes``). One row per
    session (unique ``session_key``): later changes in the window only update
    it, so the delayed task that claims (deletes) it sends one message about
    the net change from ``baseline``, the session as people last knew it.
    ``session_key`` is no foreign key: a removed session's row outlives it,
    keeping the people who had bookmarked it in ``bookmarkers``.
    """

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="+")
    session_key = models.BigIntegerField(unique=True)
    title = models.CharField(max_length=300)
    # {"starts_at": iso, "ends_at": iso, "room": room id or null, "room_name": name or null}
    baseline = models.JSONField()
    cancelled = models.BooleanField(default=False)
    bookmarkers = models.JSONField(default=list, blank=True)
    # Identifies the transaction that created the row (it enqueues the task).
    token = models.CharField(max_length=32)
    due_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"pending change of session {self.session_key}"
