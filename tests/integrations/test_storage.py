"""
Avatars through Django's storage API on S3, for real: boto3 speaks HTTP to
moto's S3 server on 127.0.0.1. Cloudflare R2 is the same backend with its
own ``AWS_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from moto.server import ThreadedMotoServer
from PIL import Image

from ibw import settings as ibw_settings
from ibw.embedded import free_port

pytestmark = pytest.mark.django_db

AVATAR = "/api/v1/users/me/avatar/"
BUCKET = "ibw-media"
CREDENTIALS = {"access_key": "testing-key", "secret_key": "testing-secret"}


@pytest.fixture(scope="session")
def moto_s3():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(moto_s3):
    client = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["access_key"],
        aws_secret_access_key=CREDENTIALS["secret_key"],
    )
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _use_s3(settings, endpoint: str, **options) -> None:
    """``STORAGE_BACKEND=s3`` as ``ibw/settings.py`` builds it, pointed at moto."""
    configured = ibw_settings._storage_backends["s3"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": configured["BACKEND"],
            "OPTIONS": {
                **configured["OPTIONS"],
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "addressing_style": "path",
                **CREDENTIALS,
                **options,
            },
        },
    }


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _put_avatar(client, content: bytes):
    return client.put(AVATAR, {"file": SimpleUploadedFile("me.png", content, "image/png")}, format="multipart")


def test_avatar_upload_lands_in_the_s3_bucket_behind_a_signed_url(s3, moto_s3, settings, user, user_api):
    _use_s3(settings, moto_s3, querystring_auth=True, querystring_expire=600)
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
    _use_s3(settings, moto_s3)
    _put_avatar(user_api, _png())
    user.refresh_from_db()
    old = user.avatar.name

    _put_avatar(user_api, _png())

    user.refresh_from_db()
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [user.avatar.name]
    assert old != user.avatar.name


def test_avatar_public_url_on_a_custom_domain_is_unsigned(s3, moto_s3, settings, user, user_api):
    _use_s3(settings, moto_s3, querystring_auth=False, custom_domain="media.ibw.example.org")

    response = _put_avatar(user_api, _png())

    user.refresh_from_db()
    assert response.json()["avatar_url"] == f"https://media.ibw.example.org/{user.avatar.name}"
    assert user_api.get("/api/v1/users/me/").json()["avatar_url"] == response.json()["avatar_url"]


def test_avatar_public_url_without_custom_domain_is_the_bucket_url(s3, moto_s3, settings, user, user_api):
    _use_s3(settings, moto_s3, querystring_auth=False, default_acl="public-read")

    response = _put_avatar(user_api, _png())

    user.refresh_from_db()
    url = response.json()["avatar_url"]
    assert url == f"{moto_s3}/{BUCKET}/{user.avatar.name}"
    assert httpx.get(url).status_code == 200


def test_s3_down_does_not_break_the_rest_of_the_api(settings, user, user_api):
    _use_s3(settings, f"http://127.0.0.1:{free_port()}")

    response = user_api.get("/api/v1/users/me/")

    assert response.status_code == 200
