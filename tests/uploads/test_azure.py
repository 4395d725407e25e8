"""
Direct uploads on Azure Blob Storage: a SAS URL for ``PUT``, sent with a
real HTTP client to Azurite (the Azure Storage emulator, installed from npm
by tests/fakes/azurite.py; skipped with the reason when node is missing).
The SAS URL's shape is also checked without Azurite.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.azurite import ACCOUNT, CONTAINER, use_azure
from tests.quests.conftest import submit_url
from tests.uploads.conftest import AVATAR, complete, create, jpeg, photo_task, png
from uploads.models import Upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def azure_storage(azure_container, azurite_server, settings):
    use_azure(settings, connection_string=azurite_server.connection_string)
    return azure_container


def _put(target: dict, content: bytes, **headers: str) -> httpx.Response:
    return httpx.put(target["url"], content=content, headers={**target["headers"], **headers})


def _blobs(container) -> list[str]:
    return sorted(blob.name for blob in container.list_blobs())


def test_sas_url_allows_creating_one_blob_for_fifteen_minutes(settings, user_api):
    use_azure(settings, connection_string=None, azure_ssl=True)

    response = create(user_api, png())

    assert response.status_code == 201
    body = response.json()
    upload = Upload.objects.get()
    url = urlsplit(body["url"])
    assert (body["method"], body["fields"]) == ("PUT", {})
    assert body["headers"] == {"x-ms-blob-type": "BlockBlob", "Content-Type": "image/png"}
    assert f"{url.scheme}://{url.netloc}{url.path}" == (
        f"https://{ACCOUNT}.blob.core.windows.net/{CONTAINER}/incoming/{upload.key}"
    )
    query = parse_qs(url.query)
    assert query["sp"] == ["cw"] and query["sr"] == ["b"] and "sig" in query
    assert query["se"][0][:16] == upload.expires_at.strftime("%Y-%m-%dT%H:%M")


def test_sas_put_end_to_end_then_avatar(azure_storage, user, user_api):
    content = png()
    target = create(user_api, content, purpose="avatar").json()

    sent = _put(target, content)
    completed = complete(user_api, target["id"])
    avatar = user_api.put(AVATAR, {"upload": target["id"]}, format="json")

    assert sent.status_code == 201
    assert (completed.status_code, completed.json()["status"]) == (200, "ready")
    opened = httpx.get(completed.json()["url"])
    assert (opened.status_code, opened.content, opened.headers["content-type"]) == (200, content, "image/png")
    user.refresh_from_db()
    assert avatar.status_code == 200 and user.avatar.name == Upload.objects.get().key


def test_bytes_sent_again_after_complete_change_nothing(azure_storage, user_api):
    content = png()
    target = create(user_api, content).json()
    _put(target, content)
    completed = complete(user_api, target["id"])

    again = _put(target, content[::-1])

    assert again.status_code == 201
    assert httpx.get(completed.json()["url"]).content == content
    assert _blobs(azure_storage) == [f"incoming/{Upload.objects.get().key}", Upload.objects.get().key]


def test_the_blob_is_served_with_the_checked_type_whatever_the_client_sent(azure_storage, user_api):
    content = png()
    target = create(user_api, content).json()
    _put(target, content, **{"Content-Type": "text/html"})

    completed = complete(user_api, target["id"])

    assert httpx.get(completed.json()["url"]).headers["content-type"] == "image/png"


def test_an_expired_sas_url_is_refused(azure_storage, user_api, settings):
    settings.UPLOAD_URL_SECONDS = 1
    content = png()
    target = create(user_api, content).json()
    time.sleep(2.5)

    response = _put(target, content)

    assert response.status_code == 403
    assert _blobs(azure_storage) == []


def test_the_sas_url_cannot_read(azure_storage, user_api):
    content = png()
    target = create(user_api, content).json()
    _put(target, content)

    response = httpx.get(target["url"])

    assert response.status_code == 403


def test_wrong_bytes_are_refused_and_the_blob_deleted(azure_storage, user_api):
    content = jpeg()
    target = create(user_api, content, content_type="image/webp").json()
    _put(target, content)

    response = complete(user_api, target["id"])

    assert response.json() == {
        "error": "The file is image/jpeg, not the image/webp declared.",
        "code": "UPLOAD_INVALID",
    }
    assert _blobs(azure_storage) == []


def test_a_blob_larger_than_declared_is_refused_and_deleted(azure_storage, user_api):
    content = png()
    target = create(user_api, content).json()
    _put(target, content + b"\0" * 10)

    response = complete(user_api, target["id"])

    assert response.json()["error"] == f"The file has {len(content) + 10} bytes, not the {len(content)} declared."
    assert _blobs(azure_storage) == []


def test_photo_proof_review_url_is_a_sas_read_url(azure_storage, admin_api, user_api):
    content = png()
    target = create(user_api, content).json()
    _put(target, content)
    complete(user_api, target["id"])
    user_api.post(submit_url(photo_task()), {"upload": target["id"]}, format="json")

    (row,) = admin_api.get("/api/v1/quests/submissions/").json()["results"]

    assert parse_qs(urlsplit(row["photo_url"]).query)["sp"] == ["r"]
    assert httpx.get(row["photo_url"]).content == content
