from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me/"
AVATAR = "/api/v1/users/me/avatar/"


def _image(fmt: str, size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def _upload(name: str, content: bytes, content_type: str = "image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)


def test_me_shows_contract_fields(user_api, user):
    body = user_api.get(ME).json()

    assert set(body) >= {
        "id",
        "telegram_id",
        "username",
        "first_name",
        "last_name",
        "display_name",
        "bio",
        "company",
        "job_title",
        "twitter",
        "linkedin",
        "interests",
        "avatar_url",
        "roles",
        "notify_telegram",
        "directory_visible",
        "enrichment",
    }
    assert body["notify_telegram"] is True
    assert body["directory_visible"] is False
    assert body["roles"] == ["attendee"]
    assert body["enrichment"] == {"status": "", "summary": "", "tags": []}


def test_me_patch_updates_profile_and_ignores_read_only_fields(user_api, user):
    response = user_api.patch(
        ME,
        {
            "company": "Acme",
            "job_title": "Founder",
            "interests": ["ZK", "zk", "DeFi"],
            "twitter": "@ada_l",
            "directory_visible": True,
            "telegram_id": 1,
            "roles": ["organizer"],
            "points": 1000,
        },
        format="json",
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.company, user.job_title, user.twitter, user.directory_visible) == ("Acme", "Founder", "ada_l", True)
    assert user.interests == ["ZK", "DeFi"]
    assert user.telegram_id != 1
    assert user.roles == []
    assert user.points == 0


def test_me_patch_invalid_twitter_is_validation_error(user_api):
    response = user_api.patch(ME, {"twitter": "not a handle!"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "twitter" in response.json()["details"]


def test_me_requires_login(api):
    response = api.get(ME)

    assert response.status_code == 401
    assert response.json() == {"error": "Authentication credentials were not provided.", "code": "NOT_AUTHENTICATED"}


def test_public_profile_hides_private_fields(user_api):
    other = UserFactory(company="Initech", directory_visible=False)

    body = user_api.get(f"/api/v1/users/{other.pk}/").json()

    assert body["company"] == "Initech"
    assert "telegram_id" not in body
    assert "notify_telegram" not in body
    assert "directory_visible" not in body


def test_public_profile_of_unknown_user_is_404(user_api):
    response = user_api.get("/api/v1/users/999999/")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
def test_avatar_upload_accepts_real_images(user_api, user, fmt, ext):
    response = user_api.put(AVATAR, {"file": _upload("me.bin", _image(fmt))}, format="multipart")

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.avatar.name.endswith(f".{ext}")
    assert default_storage.exists(user.avatar.name)
    assert response.json()["avatar_url"].endswith(user.avatar.name)
    assert user_api.get(ME).json()["avatar_url"] == response.json()["avatar_url"]


def test_avatar_replacement_deletes_old_file(user_api, user):
    user_api.put(AVATAR, {"file": _upload("a.png", _image("PNG"))}, format="multipart")
    user.refresh_from_db()
    old = user.avatar.name

    user_api.put(AVATAR, {"file": _upload("b.png", _image("PNG"))}, format="multipart")

    assert not default_storage.exists(old)


def test_avatar_wrong_magic_bytes_with_image_name_is_415(user_api, user):
    response = user_api.put(AVATAR, {"file": _upload("evil.png", b"<?php echo 1; ?>" * 10)}, format="multipart")

    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    user.refresh_from_db()
    assert not user.avatar


def test_avatar_gif_is_415(user_api):
    response = user_api.put(AVATAR, {"file": _upload("a.gif", _image("GIF"), "image/gif")}, format="multipart")

    assert response.status_code == 415


def test_avatar_over_5_mb_is_413(user_api, user):
    big = _image("PNG") + b"\0" * (5 * 1024 * 1024)

    response = user_api.put(AVATAR, {"file": _upload("big.png", big)}, format="multipart")

    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_avatar_decompression_bomb_is_refused(user_api, user):
    # 10,000 x 10,000 pixels of one colour compresses to a few hundred KB.
    bomb = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(bomb, format="PNG", optimize=True)

    response = user_api.put(AVATAR, {"file": _upload("bomb.png", bomb.getvalue())}, format="multipart")

    assert response.status_code == 413
    user.refresh_from_db()
    assert not user.avatar


def test_avatar_missing_file_is_validation_error(user_api):
    response = user_api.put(AVATAR, {}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()["details"]


def test_inactive_user_token_stops_working(user):
    client = client_for(user)
    user.is_active = False
    user.save()

    response = client.get(ME)

    assert response.status_code == 401
