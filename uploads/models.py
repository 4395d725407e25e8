"""
Direct uploads: a photo a client sends straight to storage, checked by the
server before it may be used once (an avatar, a quest photo proof).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class UploadPurpose(models.TextChoices):
    AVATAR = "avatar", "Avatar"
    PROOF = "proof", "Photo proof of a quest task"


class UploadStatus(models.TextChoices):
    # Created; the client may send the bytes until ``expires_at``.
    PENDING = "pending", "Pending"
    # The bytes were checked: an image of the declared type and size.
    READY = "ready", "Ready"
    # Taken by an avatar or a submission; never purged.
    USED = "used", "Used"


# The types the contract accepts, and the Pillow format each must be.
CONTENT_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class Upload(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    purpose = models.CharField(max_length=10, choices=UploadPurpose.choices)
    content_type = models.CharField(max_length=20)
    # Declared by the client; the object must have exactly this many bytes.
    size = models.PositiveIntegerField()
    # Where the object lives in the media storage; unguessable.
    key = models.CharField(max_length=300, unique=True)
    status = models.CharField(max_length=10, choices=UploadStatus.choices, default=UploadStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the URL handed to the client stops working.
    expires_at = models.DateTimeField()
    # Local storage only: when IBW's one-time URL took the bytes (it takes them once).
    received_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="upload_size_positive"),
            models.CheckConstraint(condition=Q(purpose__in=UploadPurpose.values), name="upload_purpose_valid"),
            models.CheckConstraint(condition=Q(status__in=UploadStatus.values), name="upload_status_valid"),
            models.CheckConstraint(condition=Q(content_type__in=list(CONTENT_TYPES)), name="upload_content_type_valid"),
            # Ready and used uploads were checked; only used ones have a use.
            models.CheckConstraint(
                condition=Q(status=UploadStatus.PENDING) | Q(completed_at__isnull=False),
                name="upload_completed_when_checked",
            ),
            models.CheckConstraint(
                condition=Q(status=UploadStatus.USED, used_at__isnull=False)
                | (~Q(status=UploadStatus.USED) & Q(used_at__isnull=True)),
                name="upload_used_at_iff_used",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status", "expires_at"], name="upload_owner_status"),
            models.Index(fields=["status", "created_at"], name="upload_status_created"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} upload {self.pk} of user {self.owner_id}: {self.status}"
