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

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, ContentSettings, generate_blob_sas
from botocore.exceptions import ClientError
from django.core.files.storage import Storage
from django.core.files.storage import storages as storage_handler
from storages.backends.azure_storage import AzureStorage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

_IF_NOT_MODIFIED = MatchConditions.IfNotModified


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
    Return how a client writes ``size`` bytes of ``content_type`` for ``key``
    straight to the storage (at ``staging_name(key)``) within ``expires_in``
    seconds, or None when the storage cannot take bytes from a client (local
    files).
    """
    storage = media_storage()
    if isinstance(storage, S3Storage):
        return _s3_target(storage, staging_name(key), content_type=content_type, size=size, expires_in=expires_in)
    if isinstance(storage, AzureStorage):
        return _azure_target(storage, staging_name(key), content_type=content_type, expires_in=expires_in)
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


# Where clients write on S3 and Azure: ``complete`` copies a checked object
# from there to its final key, which no client URL names, so bytes sent again
# to a URL that has not expired yet change nothing anyone sees.
STAGING_PREFIX = "incoming/"


@dataclass(frozen=True)
class StoredObject:
    size: int
    # The storage's version tag (ETag); empty for local files, which a one-time URL writes once.
    version: str = ""


class ObjectChanged(Exception):
    """The object was replaced between its check and its copy."""


def staging_name(key: str) -> str:
    """Where the client's URL writes the object that will live at ``key``."""
    storage = media_storage()
    return f"{STAGING_PREFIX}{key}" if isinstance(storage, S3Storage | AzureStorage) else key


def _s3(storage: S3Storage, name: str) -> tuple:
    return storage.bucket.meta.client, storage._normalize_name(clean_name(name))


def stat_object(name: str) -> StoredObject | None:
    """The size and version of the object ``name``, or None when there is none (one request)."""
    storage = media_storage()
    if isinstance(storage, S3Storage):
        client, object_key = _s3(storage, name)
        try:
            head = client.head_object(Bucket=storage.bucket_name, Key=object_key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return StoredObject(size=int(head["ContentLength"]), version=head["ETag"])
    if isinstance(storage, AzureStorage):
        try:
            properties = storage.client.get_blob_client(storage._get_valid_path(name)).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return StoredObject(size=int(properties.size), version=properties.etag)
    return StoredObject(size=storage.size(name)) if storage.exists(name) else None


def read_prefix(name: str, length: int, *, version: str = "") -> bytes:
    """
    The first ``length`` bytes of the object ``name`` at ``version`` (a ranged
    read: the rest is not transferred). Raises ``ObjectChanged`` when the
    object is no longer that version.
    """
    storage = media_storage()
    if isinstance(storage, S3Storage):
        client, object_key = _s3(storage, name)
        try:
            answer = client.get_object(
                Bucket=storage.bucket_name, Key=object_key, Range=f"bytes=0-{length - 1}", IfMatch=version
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("412", "PreconditionFailed", "NoSuchKey"):
                raise ObjectChanged() from exc
            raise
        return answer["Body"].read()
    if isinstance(storage, AzureStorage):
        blob = storage.client.get_blob_client(storage._get_valid_path(name))
        try:
            download = blob.download_blob(offset=0, length=length, etag=version, match_condition=_IF_NOT_MODIFIED)
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise ObjectChanged() from exc
        return download.readall()
    with storage.open(name, "rb") as handle:
        return handle.read(length)


def promote(name: str, key: str, *, version: str, content_type: str) -> None:
    """
    Copy the checked object ``name`` (at ``version``) to ``key`` inside the
    storage, then delete ``name``. Nothing to do when they are the same
    (local files). Raises ``ObjectChanged`` when ``name`` was replaced since
    it was checked; then nothing is copied.
    """
    if name == key:
        return
    storage = media_storage()
    if isinstance(storage, S3Storage):
        client, source = _s3(storage, name)
        extra = {"ACL": storage.default_acl} if storage.default_acl else {}
        try:
            client.copy_object(
                Bucket=storage.bucket_name,
                Key=_s3(storage, key)[1],
                CopySource={"Bucket": storage.bucket_name, "Key": source},
                CopySourceIfMatch=version,
                ContentType=content_type,
                MetadataDirective="REPLACE",
                **extra,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("412", "PreconditionFailed", "NoSuchKey"):
                raise ObjectChanged() from exc
            raise
    elif isinstance(storage, AzureStorage):
        source_name = storage._get_valid_path(name)
        source = storage.client.get_blob_client(source_name)
        sas = generate_blob_sas(
            storage.account_name,
            storage.azure_container,
            source_name,
            account_key=storage.account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + timedelta(minutes=5),
        )
        target = storage.client.get_blob_client(storage._get_valid_path(key))
        try:
            # Copy Blob From URL: synchronous (up to 256 MiB), answered once the copy is done.
            target.start_copy_from_url(
                f"{source.url}?{sas}",
                requires_sync=True,
                source_etag=version,
                source_match_condition=_IF_NOT_MODIFIED,
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise ObjectChanged() from exc
        # The copy keeps the client's Content-Type; the blob is served with the checked one.
        target.set_http_headers(ContentSettings(content_type=content_type))
    storage.delete(name)


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
