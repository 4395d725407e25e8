"""
Writes for direct uploads: create one (and the URL the client sends the
bytes to), receive the bytes on IBW itself with local storage, check them on
``complete``, use an upload once, purge what was never finished or used.

The bytes never pass through a web process on S3, R2 or Azure: the client
sends them to the storage, and ``complete`` reads them back once to let
Pillow decide what they are.
"""

from __future__ import annotations

import io
import secrets
import tempfile
from datetime import timedelta
from typing import IO

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.files import File
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from ibw.errors import (
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from integrations.storage import (
    ObjectChanged,
    UploadTarget,
    direct_upload_target,
    media_storage,
    promote,
    read_prefix,
    staging_name,
    stat_object,
)
from uploads.errors import UploadAlreadyReceived, UploadInvalid, UploadNotReady, UploadUrlInvalid, UploadUsed
from uploads.models import CONTENT_TYPES, EXTENSIONS, Upload, UploadPurpose, UploadStatus

logger = structlog.get_logger(__name__)

# Pillow refuses larger images itself only past 2 × 89 M pixels; a phone photo has ~12 M.
MAX_PIXELS = 40_000_000
_LOCAL_SALT = "uploads.local-url"
_KEY_PREFIXES = {UploadPurpose.AVATAR: "avatars", UploadPurpose.PROOF: "proofs"}
_CHUNK = 64 * 1024
# How much of an object ``complete`` reads: enough for any header (a JPEG's
# EXIF, ICC and XMP segments come before its frame header).
INSPECT_BYTES = 256 * 1024


def max_bytes(purpose: str) -> int:
    return settings.AVATAR_MAX_BYTES if purpose == UploadPurpose.AVATAR else settings.PROOF_MAX_BYTES


def create_upload(owner, *, purpose: str, content_type: str, size: int) -> tuple[Upload, UploadTarget]:
    """
    Record a pending upload of ``size`` bytes of ``content_type`` and return
    it with where the client sends the bytes (valid ``UPLOAD_URL_SECONDS``).

    Raises ``UnsupportedMediaType`` (415) for a type other than JPEG, PNG or
    WebP, ``PayloadTooLarge`` (413) over the purpose's limit, and
    ``RateLimited`` (429) when the owner already has ``UPLOAD_MAX_PENDING``
    uploads pending whose URL still works. The owner's row is locked while
    counting, so racing creates never pass the limit together.
    """
    if content_type not in CONTENT_TYPES:
        raise UnsupportedMediaType("Uploads must be image/jpeg, image/png or image/webp.")
    limit = max_bytes(purpose)
    if size > limit:
        raise PayloadTooLarge(f"A {purpose} upload may be at most {limit // (1024 * 1024)} MB.")
    now = timezone.now()
    expires_at = now + timedelta(seconds=settings.UPLOAD_URL_SECONDS)
    key = f"{_KEY_PREFIXES[UploadPurpose(purpose)]}/{owner.pk}-{secrets.token_hex(16)}.{EXTENSIONS[content_type]}"
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=owner.pk).values_list("pk").first()
        in_flight = Upload.objects.filter(owner=owner, status=UploadStatus.PENDING, expires_at__gt=now)
        if in_flight.count() >= settings.UPLOAD_MAX_PENDING:
            oldest = in_flight.order_by("expires_at").values_list("expires_at", flat=True).first()
            wait = (oldest - now).total_seconds() if oldest else settings.UPLOAD_URL_SECONDS
            raise RateLimited(
                f"You have {settings.UPLOAD_MAX_PENDING} uploads not yet completed; complete them or wait.",
                retry_after=int(wait) + 1,
            )
        upload = Upload.objects.create(
            owner=owner, purpose=purpose, content_type=content_type, size=size, key=key, expires_at=expires_at
        )
    try:
        target = direct_upload_target(
            key, content_type=content_type, size=size, expires_in=settings.UPLOAD_URL_SECONDS
        ) or _local_target(upload)
    except Exception as exc:  # an SDK or credentials failure: the client may try again
        logger.exception("upload_target_failed", upload_id=upload.pk)
        Upload.objects.filter(pk=upload.pk).delete()
        raise ServiceUnavailable("The storage is unavailable; try again shortly.") from exc
    return upload, target


def _local_target(upload: Upload) -> UploadTarget:
    """IBW's own one-time URL (relative; the view makes it absolute): the signed id is the credential."""
    token = signing.dumps(upload.pk, salt=_LOCAL_SALT)
    return UploadTarget(
        method="PUT",
        url=reverse("uploads-local-receive", kwargs={"token": token}),
        headers={"Content-Type": upload.content_type},
    )


def receive_local_upload(token: str, *, stream: IO[bytes], content_length: int | None) -> Upload:
    """
    Take the bytes sent to a local one-time URL and store them at the
    upload's key.

    The URL works once, until the upload's ``expires_at``: a conditional
    ``UPDATE`` claims it (``received_at``), so two racing requests store one
    body. A body longer than the declared size is refused (413) and nothing
    is stored; the URL is spent either way. Shorter bodies are stored, and
    ``complete`` refuses them.
    """
    try:
        upload_id = signing.loads(token, salt=_LOCAL_SALT, max_age=settings.UPLOAD_URL_SECONDS)
    except signing.BadSignature:  # SignatureExpired is a BadSignature too
        raise UploadUrlInvalid() from None
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None:
        raise UploadUrlInvalid()
    if content_length is not None and content_length > upload.size:
        raise PayloadTooLarge(f"This upload was declared as {upload.size} bytes.")
    claimed = Upload.objects.filter(
        pk=upload.pk, status=UploadStatus.PENDING, received_at__isnull=True, expires_at__gt=timezone.now()
    ).update(received_at=timezone.now())
    if not claimed:
        if upload.expires_at <= timezone.now():
            raise UploadUrlInvalid()
        raise UploadAlreadyReceived()
    with tempfile.SpooledTemporaryFile(max_size=2 * 1024 * 1024) as buffer:
        received = 0
        while chunk := stream.read(min(_CHUNK, upload.size + 1 - received)):
            received += len(chunk)
            if received > upload.size:
                raise PayloadTooLarge(f"This upload was declared as {upload.size} bytes.")
            buffer.write(chunk)
        buffer.seek(0)
        storage = media_storage()
        name = storage.save(upload.key, File(buffer))
    if name != upload.key:
        # Keys are unique and random: another file there means something else wrote it.
        storage.delete(name)
        raise UploadAlreadyReceived()
    return upload


def complete_upload(upload: Upload) -> Upload:
    """
    Check the object behind ``upload`` and mark it ready.

    The object must exist, have exactly the declared size and be, by its
    bytes as Pillow reads them, an image of the declared type. Otherwise the
    object and the upload are deleted and ``UploadInvalid`` (400) says why.
    Idempotent: a ready upload is returned as it is; a used one raises
    ``UploadUsed``. Storage errors raise ``ServiceUnavailable`` and change
    nothing.
    """
    if upload.status == UploadStatus.USED:
        raise UploadUsed()
    if upload.status == UploadStatus.READY:
        return upload
    try:
        reason = _inspect(upload)
    except Exception as exc:
        logger.exception("upload_inspect_failed", upload_id=upload.pk)
        raise ServiceUnavailable("The storage is unavailable; try again shortly.") from exc
    if reason:
        _discard(upload)
        raise UploadInvalid(reason)
    now = timezone.now()
    Upload.objects.filter(pk=upload.pk, status=UploadStatus.PENDING).update(status=UploadStatus.READY, completed_at=now)
    fresh = Upload.objects.filter(pk=upload.pk).first()
    if fresh is None:  # purged meanwhile
        raise NotFound("No such upload.")
    return fresh


def _inspect(upload: Upload) -> str:
    """
    Why the object is not acceptable, or an empty string; an acceptable one
    is moved to the upload's key (``promote``).

    One ``HEAD`` for existence, size and version, then a ranged read of the
    first ``INSPECT_BYTES`` of that version: Pillow decides the format and
    the dimensions from the image's header, so the web process never
    downloads a 10 MB photo. When the whole file fits in that window,
    ``verify()`` also checks it entire. The copy to the final key is
    conditional on the same version, inside the storage.
    """
    name = staging_name(upload.key)
    stored = stat_object(name)
    if stored is None:
        return "No file was uploaded."
    if stored.size == 0:
        return "The file is empty."
    if stored.size != upload.size:
        return f"The file has {stored.size} bytes, not the {upload.size} declared."
    try:
        head = read_prefix(name, INSPECT_BYTES, version=stored.version)
    except ObjectChanged:
        return _CHANGED
    try:
        with Image.open(io.BytesIO(head)) as image:
            image_format = image.format
            width, height = image.size
            if width * height > MAX_PIXELS:
                return "The image has too many pixels."
            if stored.size <= INSPECT_BYTES:
                image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError, SyntaxError, OSError, ValueError):
        return f"The file is not a valid {upload.content_type} image."
    expected = CONTENT_TYPES[upload.content_type]
    if image_format != expected:
        named = {value: key for key, value in CONTENT_TYPES.items()}.get(image_format or "", image_format)
        return f"The file is {named}, not the {upload.content_type} declared."
    try:
        promote(name, upload.key, version=stored.version, content_type=upload.content_type)
    except ObjectChanged:
        return _CHANGED
    return ""


_CHANGED = "The file was replaced while it was being checked; upload it again."


def _discard(upload: Upload) -> None:
    """Delete the object, then the upload if it is still pending (nothing of a refused upload stays)."""
    try:
        storage = media_storage()
        storage.delete(staging_name(upload.key))
        storage.delete(upload.key)
    except Exception as exc:
        logger.exception("upload_object_delete_failed", upload_id=upload.pk)
        raise ServiceUnavailable("The storage is unavailable; try again shortly.") from exc
    Upload.objects.filter(pk=upload.pk, status=UploadStatus.PENDING).delete()


def consume_upload(upload_id: int, *, owner, purpose: str) -> Upload:
    """
    Mark ``owner``'s ready upload ``upload_id`` of ``purpose`` used and return
    it. Call inside the transaction that records the use, so a failure
    there leaves the upload ready.

    A conditional ``UPDATE … WHERE status = 'ready'``: of racing uses, one
    wins and the others raise ``UploadUsed`` (409). Another person's upload,
    or none, raises ``NotFound``; another purpose ``ValidationFailed``; a
    pending one ``UploadNotReady``.
    """
    used = Upload.objects.filter(pk=upload_id, owner=owner, purpose=purpose, status=UploadStatus.READY).update(
        status=UploadStatus.USED, used_at=timezone.now()
    )
    upload = Upload.objects.filter(pk=upload_id, owner=owner).first()
    if upload is None:
        raise NotFound("No such upload.")
    if used:
        return upload
    if upload.purpose != purpose:
        message = f"This upload is for a {upload.purpose}, not a {purpose}."
        raise ValidationFailed(message, details={"upload": [message]})
    if upload.status == UploadStatus.USED:
        raise UploadUsed()
    raise UploadNotReady()


def delete_objects_after_commit(owner) -> None:
    """
    Once the current transaction commits, delete the storage objects of every
    upload of ``owner`` (account erasure: the rows go with the person). A
    storage error is logged; the objects are then orphans a lifecycle rule or
    a later sweep removes, never data another person can reach.
    """
    keys = list(Upload.objects.filter(owner=owner).values_list("key", flat=True))

    def delete() -> None:
        storage = media_storage()
        for key in keys:
            try:
                storage.delete(staging_name(key))
                storage.delete(key)
            except Exception:
                logger.exception("erased_upload_object_not_deleted", key=key)

    if keys:
        transaction.on_commit(delete)


def purge_stale_uploads(*, batch_size: int = 100) -> int:
    """
    Delete uploads created over ``UPLOAD_TTL_HOURS`` ago that were never
    completed or never used, objects first; return how many. Idempotent.

    Each batch is locked (``skip_locked``) while its objects are deleted, so
    a use racing the purge waits and then finds nothing to use. A storage
    error keeps the batch for the next run.
    """
    cutoff = timezone.now() - timedelta(hours=settings.UPLOAD_TTL_HOURS)
    storage = media_storage()
    purged = 0
    while True:
        with transaction.atomic():
            stale = list(
                Upload.objects.select_for_update(skip_locked=True)
                .filter(status__in=[UploadStatus.PENDING, UploadStatus.READY], created_at__lt=cutoff)
                .order_by("pk")[:batch_size]
            )
            if not stale:
                return purged
            for upload in stale:
                storage.delete(staging_name(upload.key))
                storage.delete(upload.key)
            Upload.objects.filter(pk__in=[upload.pk for upload in stale]).delete()
        purged += len(stale)
        logger.info("uploads_purged", count=len(stale))
