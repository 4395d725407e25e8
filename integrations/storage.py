"""
Direct uploads to the configured storage (``STORAGE_BACKEND``): where a
client sends bytes without passing them through a web process, and a URL
someone can open to read them back.

Each backend's SDK is reached through the client django-storages already
built from the settings (endpoint, credentials, addressing style, signature
version), so a presigned URL points where the storage itself writes:

- S3 and R2: a presigned POST whose policy fixes the key, the
  ``Content-Type`` and the exact size (``content-length-range``);
- Azure Blob Storage: a SAS URL allowing one blob to be created with ``PUT``
  (a SAS cannot restrict size or type: the completion check does);
- local files (``FileSystemStorage``): no SDK; ``direct_upload_target``
  answers None and the ``uploads`` app hands out its own one-time URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from botocore.exceptions import ClientError
from django.core.files.storage import Storage
from django.core.files.storage import storages as storage_handler
from storages.backends.azure_storage import AzureStorage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


@dataclass(frozen=True)
class UploadTarget:
    """How a client sends one object: an HTTP method, a URL, form fields (POST) and headers."""

    method: str
    url: str
    fields: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def media_storage() -> Storage:
    """The default storage, as configured now (tests swap ``STORAGES``)."""
    return storage_handler["default"]


def direct_upload_target(key: str, *, content_type: str, size: int, expires_in: int) -> UploadTarget | None:
    """
    Return how a client writes ``size`` bytes of ``content_type`` at ``key``
    straight to the storage within ``expires_in`` seconds, or None when the
    storage cannot take bytes from a client (local files).
    """
    storage = media_storage()
    if isinstance(storage, S3Storage):
        return _s3_target(storage, key, content_type=content_type, size=size, expires_in=expires_in)
    if isinstance(storage, AzureStorage):
        return _azure_target(storage, key, content_type=content_type, expires_in=expires_in)
    return None


def _s3_target(storage: S3Storage, key: str, *, content_type: str, size: int, expires_in: int) -> UploadTarget:
    # S3Storage's own name mapping (its ``location`` prefix), so storage.open/size/delete find the object.
    object_key = storage._normalize_name(clean_name(key))
    fields = {"Content-Type": content_type}
    conditions: list = [{"Content-Type": content_type}, ["content-length-range", size, size]]
    if storage.default_acl:
        # A public-read bucket (no signed URLs) needs the ACL on the object, as django-storages sets it.
        fields["acl"] = storage.default_acl
        conditions.append({"acl": storage.default_acl})
    presigned = storage.bucket.meta.client.generate_presigned_post(
        Bucket=storage.bucket_name,
        Key=object_key,
        Fields=fields,
        Conditions=conditions,
        ExpiresIn=expires_in,
    )
    return UploadTarget(method="POST", url=presigned["url"], fields=dict(presigned["fields"]))


def _azure_target(storage: AzureStorage, key: str, *, content_type: str, expires_in: int) -> UploadTarget:
    blob_name = storage._get_valid_path(key)
    expiry = datetime.now(UTC) + timedelta(seconds=expires_in)
    sas = generate_blob_sas(
        storage.account_name,
        storage.azure_container,
        blob_name,
        account_key=storage.account_key,
        # Create and write one blob; no read, no list, no delete.
        permission=BlobSasPermissions(create=True, write=True),
        expiry=expiry,
    )
    url = f"{storage.client.get_blob_client(blob_name).url}?{sas}"
    return UploadTarget(
        method="PUT",
        url=url,
        headers={"x-ms-blob-type": "BlockBlob", "Content-Type": content_type},
    )


def object_size(key: str) -> int | None:
    """The size in bytes of the object at ``key``, or None when there is none (one request)."""
    storage = media_storage()
    if isinstance(storage, S3Storage):
        try:
            head = storage.bucket.meta.client.head_object(
                Bucket=storage.bucket_name, Key=storage._normalize_name(clean_name(key))
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])
    if isinstance(storage, AzureStorage):
        try:
            return int(storage.client.get_blob_client(storage._get_valid_path(key)).get_blob_properties().size)
        except ResourceNotFoundError:
            return None
    return storage.size(key) if storage.exists(key) else None


def read_prefix(key: str, length: int) -> bytes:
    """The first ``length`` bytes of the object at ``key`` (a ranged read: the rest is not transferred)."""
    storage = media_storage()
    if isinstance(storage, S3Storage):
        answer = storage.bucket.meta.client.get_object(
            Bucket=storage.bucket_name, Key=storage._normalize_name(clean_name(key)), Range=f"bytes=0-{length - 1}"
        )
        return answer["Body"].read()
    if isinstance(storage, AzureStorage):
        blob = storage.client.get_blob_client(storage._get_valid_path(key))
        return blob.download_blob(offset=0, length=length).readall()
    with storage.open(key, "rb") as handle:
        return handle.read(length)


def read_url(key: str, *, content_type: str, expires_in: int) -> str:
    """
    A URL someone can open to see ``key``: presigned for ``expires_in``
    seconds on S3 (with ``AWS_QUERYSTRING_AUTH``, the default) and Azure,
    the media URL (relative to this site) for local files. S3 is asked to
    answer it with ``content_type``, whatever the client's upload said.
    """
    storage = media_storage()
    if isinstance(storage, S3Storage):
        return storage.url(key, parameters={"ResponseContentType": content_type}, expire=expires_in)
    if isinstance(storage, AzureStorage):
        return storage.url(key, expire=expires_in)
    return storage.url(key)
