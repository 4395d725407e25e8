"""
Avatars through Django's storage API on S3, for real: boto3 speaks HTTP to
moto's S3 server on 127.0.0.1. Cloudflare R2 is the same backend with its
own ``AWS_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from ibw.embedded import free_port
from tests.fakes.s3 import BUCKET, use_s3

pytestmark = pytest.mark.django_db

AVATAR = "/api/v1/users/me/avatar/"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _put_avatar(client, content: bytes):
    return client.put(AVATAR, {"file": SimpleUploadedFile("me.png", content, "image/png")}, format="multipart")


def test_avatar_upload_lands_in_the_s3_bucket_behind_a_signed_url(s3, moto_s3, settings, user, user_api):
    use_s3(settings, moto_s3, querystring_auth=True, querystring_expire=600)
    content = _png()

    response = _put_avatar(user_api, content)

    assert response.status_code == 200
    user.refresh_from_db()
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [user.avatar.name]
    assert user.avatar.name.startswith(f"avatars/{user.pk}-") and user.avatar.name.endswith(".png")
    url = response.json()["avatar_url"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{moto_s3}/{BUCKET}/{user.avatar.name}"
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["600"]
    assert "X-Amz-Signature" in query
    fetched = httpx.get(url)
    assert (fetched.status_code, fetched.content) == (200, content)
    assert s3.get_object(Bucket=BUCKET, Key=user.avatar.name)["Body"].read() == content


def test_avatar_replacement_deletes_the_old_object(s3, moto_s3, settings, user, user_api):
    use_s3(settings, moto_s3)
    _put_avatar(user_api, _png())
    user.refresh_from_db()
    old = user.avatar.name

    _put_avatar(user_api, _png())

    user.refresh_from_db()
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [user.avatar.name]
    assert old != user.avatar.name


def test_avatar_public_url_on_a_custom_domain_is_unsigned(s3, moto_s3, settings, user, user_api):
    use_s3(settings, moto_s3, querystring_auth=False, custom_domain="media.ibw.example.org")

    response = _put_avatar(user_api, _png())

    user.refresh_from_db()
    assert response.json()["avatar_url"] == f"https://media.ibw.example.org/{user.avatar.name}"
    assert user_api.get("/api/v1/users/me/").json()["avatar_url"] == response.json()["avatar_url"]


def test_avatar_public_url_without_custom_domain_is_the_bucket_url(s3, moto_s3, settings, user, user_api):
    use_s3(settings, moto_s3, querystring_auth=False, default_acl="public-read")

    response = _put_avatar(user_api, _png())

    user.refresh_from_db()
    url = response.json()["avatar_url"]
    assert url == f"{moto_s3}/{BUCKET}/{user.avatar.name}"
    assert httpx.get(url).status_code == 200


def test_s3_down_does_not_break_the_rest_of_the_api(settings, user, user_api):
    use_s3(settings, f"http://127.0.0.1:{free_port()}")

    response = user_api.get("/api/v1/users/me/")

    assert response.status_code == 200
