"""
Direct uploads on S3 (and R2, the same backend with its own endpoint): the
presigned POST sent by a real HTTP client to moto's server, with S3's POST
policy rules enforced in front of it (tests/fakes/s3.py).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.utils import timezone

from tests.fakes.s3 import BUCKET, use_s3
from tests.quests.conftest import submit_url
from tests.uploads.conftest import AVATAR, bucket_keys, complete, create, jpeg, photo_task, png
from uploads.models import Upload, UploadStatus
from uploads.services import purge_stale_uploads

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3_storage(s3, moto_s3, settings):
    use_s3(settings, moto_s3)
    return s3


def _post(target: dict, content: bytes, *, content_type: str = "image/png") -> httpx.Response:
    """Send the file as a browser form would: the policy's fields first, the file last."""
    return httpx.post(target["url"], data=target["fields"], files={"file": ("photo", content, content_type)})


def test_create_answers_a_presigned_post_whose_policy_fixes_key_type_and_size(s3_storage, moto_s3, user_api):
    content = png()

    response = create(user_api, content)

    assert response.status_code == 201
    body = response.json()
    upload = Upload.objects.get()
    assert (body["method"], body["url"], body["headers"]) == ("POST", f"{moto_s3}/{BUCKET}", {})
    assert body["fields"]["key"] == f"incoming/{upload.key}"
    assert body["fields"]["Content-Type"] == "image/png"
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    assert {"key": f"incoming/{upload.key}"} in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert ["content-length-range", len(content), len(content)] in policy["conditions"]


def test_presigned_post_end_to_end_then_avatar(s3_storage, user, user_api):
    content = png()
    target = create(user_api, content, purpose="avatar").json()

    sent = _post(target, content)
    completed = complete(user_api, target["id"])
    avatar = user_api.put(AVATAR, {"upload": target["id"]}, format="json")

    assert sent.status_code == 204
    assert completed.status_code == 200
    body = completed.json()
    assert (body["id"], body["status"]) == (target["id"], "ready")
    query = parse_qs(urlsplit(body["url"]).query)
    assert "X-Amz-Signature" in query and query["response-content-type"] == ["image/png"]
    opened = httpx.get(body["url"])
    assert (opened.status_code, opened.content, opened.headers["content-type"]) == (200, content, "image/png")
    user.refresh_from_db()
    assert avatar.status_code == 200
    assert user.avatar.name == Upload.objects.get().key
    assert httpx.get(avatar.json()["avatar_url"]).content == content


def test_complete_moves_the_object_out_of_the_clients_reach(s3_storage, user_api):
    content = png()
    target = create(user_api, content).json()
    _post(target, content)
    completed = complete(user_api, target["id"])
    key = Upload.objects.get().key
    assert bucket_keys(s3_storage) == [key]

    again = _post(target, content[::-1])

    assert again.status_code == 204
    assert httpx.get(completed.json()["url"]).content == content
    assert s3_storage.get_object(Bucket=BUCKET, Key=key)["Body"].read() == content


def test_s3_refuses_a_file_over_the_size_range(s3_storage, user_api):
    content = png()
    target = create(user_api, content).json()

    response = _post(target, content + b"\0" * 1000)

    assert response.status_code == 400
    assert "<Code>EntityTooLarge</Code>" in response.text
    assert bucket_keys(s3_storage) == []
    refused = complete(user_api, target["id"])
    assert refused.json() == {"error": "No file was uploaded.", "code": "UPLOAD_INVALID"}


def test_s3_refuses_another_content_type_than_the_policys(s3_storage, user_api):
    content = png()
    target = create(user_api, content).json()
    target["fields"]["Content-Type"] = "text/html"

    response = _post(target, content, content_type="text/html")

    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text
    assert bucket_keys(s3_storage) == []


def test_s3_refuses_another_key_than_the_policys(s3_storage, user_api):
    content = png()
    target = create(user_api, content).json()
    target["fields"]["key"] = "avatars/someone-else.png"

    response = _post(target, content)

    assert response.status_code == 403
    assert bucket_keys(s3_storage) == []


def test_s3_refuses_an_expired_policy(s3_storage, user_api, settings):
    settings.UPLOAD_URL_SECONDS = 1
    content = png()
    target = create(user_api, content).json()
    time.sleep(1.5)

    response = _post(target, content)

    assert response.status_code == 403
    assert "Policy expired" in response.text
    assert bucket_keys(s3_storage) == []


def test_bytes_that_contradict_the_declared_type_are_refused_and_deleted(s3_storage, user_api):
    content = jpeg()
    target = create(user_api, content, content_type="image/png").json()
    assert _post(target, content).status_code == 204

    response = complete(user_api, target["id"])

    assert response.json() == {"error": "The file is image/jpeg, not the image/png declared.", "code": "UPLOAD_INVALID"}
    assert bucket_keys(s3_storage) == []
    assert not Upload.objects.exists()


def test_photo_proof_review_url_is_a_presigned_get(s3_storage, admin_api, user_api):
    task = photo_task()
    content = png()
    target = create(user_api, content).json()
    _post(target, content)
    complete(user_api, target["id"])
    user_api.post(submit_url(task), {"upload": target["id"]}, format="json")

    (row,) = admin_api.get("/api/v1/quests/submissions/").json()["results"]

    assert "X-Amz-Signature" in parse_qs(urlsplit(row["photo_url"]).query)
    assert httpx.get(row["photo_url"]).content == content


def test_purge_deletes_the_s3_objects(s3_storage, user_api):
    content = png()
    target = create(user_api, content).json()
    _post(target, content)
    complete(user_api, target["id"])
    Upload.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert Upload.objects.get().status == UploadStatus.READY

    assert purge_stale_uploads() == 1

    assert bucket_keys(s3_storage) == []
    assert not Upload.objects.exists()
