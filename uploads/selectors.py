"""Reads for direct uploads."""

from __future__ import annotations

from django.conf import settings

from ibw.errors import NotFound
from integrations.storage import read_url
from uploads.models import Upload


def access_upload(user, upload_id: int) -> Upload:
    """``user``'s upload ``upload_id``; anyone else's (or none) raises ``NotFound``."""
    upload = Upload.objects.filter(pk=upload_id, owner=user).first()
    if upload is None:
        raise NotFound("No such upload.")
    return upload


def upload_url(upload: Upload) -> str:
    """
    A URL someone can open to see the upload's image: presigned for
    ``UPLOAD_READ_URL_SECONDS`` on S3 and Azure, the media URL (relative)
    locally. Computed without a request to the storage.
    """
    return read_url(upload.key, content_type=upload.content_type, expires_in=settings.UPLOAD_READ_URL_SECONDS)
