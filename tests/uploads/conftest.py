from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.storage.blob import BlobServiceClient
from django.conf import settings as django_settings
from django.utils import timezone
from PIL import Image

from ibw.embedded import free_port
from quests.models import TaskType
from tests.fakes.azurite import CONTAINER, Azurite, azurite_blob_command
from tests.fakes.s3 import BUCKET, moto_s3, s3  # noqa: F401 (fixtures: pytest finds them by name)
from tests.quests.conftest import make_quest

UPLOADS = "/api/v1/uploads/"
AVATAR = "/api/v1/users/me/avatar/"


def png(size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 10)).save(buffer, format="JPEG")
    return buffer.getvalue()


def create(client, content: bytes, *, purpose: str = "proof", content_type: str = "image/png", size: int | None = None):
    """POST /uploads/ for ``content``; the response."""
    return client.post(
        UPLOADS,
        {"purpose": purpose, "content_type": content_type, "size": len(content) if size is None else size},
        format="json",
    )


def photo_task():
    """A task of a quest open now: a photo proof, reviewed by hand."""
    now = timezone.now()
    quest = make_quest(
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        tasks=[{"title": "Selfie with a speaker", "type": TaskType.PROOF, "points": 20, "config": {"kind": "photo"}}],
    )
    return quest.tasks.get()


def complete(client, upload_id: int):
    return client.post(f"{UPLOADS}{upload_id}/complete/")


def local_put(api, target: dict, content: bytes):
    """Send ``content`` to a local one-time URL through the test client, with no credentials."""
    return api.generic("PUT", urlsplit(target["url"]).path, content, content_type=target["headers"]["Content-Type"])


@pytest.fixture
def local_media():
    """Local storage in MEDIA_ROOT (the media URL serves it); files this test wrote are removed after."""
    root = Path(django_settings.MEDIA_ROOT)
    before = set(root.rglob("*")) if root.exists() else set()
    yield root
    for path in sorted(set(root.rglob("*")) - before, reverse=True):
        if path.is_file():
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def bucket_keys(client) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


@pytest.fixture(scope="session")
def azurite_server():
    command, why_not = azurite_blob_command()
    if command is None:
        pytest.skip(why_not)
    with Azurite(command, free_port()) as server:
        yield server


@pytest.fixture
def azure_container(azurite_server):
    service = BlobServiceClient.from_connection_string(azurite_server.connection_string)
    container = service.get_container_client(CONTAINER)
    container.create_container()
    yield container
    container.delete_container()
