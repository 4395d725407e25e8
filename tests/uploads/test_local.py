"""Direct uploads with local storage, end to end: IBW's one-time URL, complete, use once, purge."""

from __future__ import annotations

import io
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.db import connection, connections
from django.utils import timezone
from PIL import Image

from quests.models import Submission, SubmissionStatus
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.quests.conftest import submit_url
from tests.uploads.conftest import AVATAR, complete, create, jpeg, local_put, photo_task, png
from uploads.models import Upload, UploadStatus
from uploads.services import purge_stale_uploads

pytestmark = pytest.mark.django_db


def _ready(client, api, content: bytes, *, purpose: str = "proof", content_type: str = "image/png") -> int:
    target = create(client, content, purpose=purpose, content_type=content_type).json()
    assert local_put(api, target, content).status_code == 204
    assert complete(client, target["id"]).status_code == 200
    return target["id"]


def test_create_answers_a_one_time_put_url_on_ibw_itself(local_media, user_api):
    before = timezone.now()

    response = create(user_api, png(), purpose="avatar")

    assert response.status_code == 201
    body = response.json()
    upload = Upload.objects.get()
    assert body["id"] == upload.pk
    assert (body["method"], body["fields"], body["headers"]) == ("PUT", {}, {"Content-Type": "image/png"})
    assert body["url"].startswith("http://testserver/api/v1/uploads/local/")
    expires_at = timezone.datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=14) < expires_at - before <= timedelta(minutes=15, seconds=5)
    assert (upload.status, upload.purpose, upload.size) == (UploadStatus.PENDING, "avatar", len(png()))


def test_local_upload_end_to_end_becomes_the_avatar_once(local_media, api, user, user_api):
    content = png()
    target = create(user_api, content, purpose="avatar").json()

    sent = local_put(api, target, content)
    completed = complete(user_api, target["id"])
    avatar = user_api.put(AVATAR, {"upload": target["id"]}, format="json")
    again = user_api.put(AVATAR, {"upload": target["id"]}, format="json")

    assert sent.status_code == 204
    assert completed.status_code == 200
    upload = Upload.objects.get()
    assert completed.json() == {
        "id": upload.pk,
        "status": "ready",
        "url": f"http://testserver/media/{upload.key}",
    }
    assert api.get(urlsplit(completed.json()["url"]).path).getvalue() == content
    user.refresh_from_db()
    assert avatar.status_code == 200
    assert avatar.json() == {"avatar_url": f"http://testserver/media/{upload.key}"}
    assert user.avatar.name == upload.key
    assert (again.status_code, again.json()["code"]) == (409, "UPLOAD_USED")
    upload.refresh_from_db()
    assert upload.status == UploadStatus.USED and upload.used_at is not None


def test_replacing_a_direct_avatar_deletes_the_old_object(
    local_media, api, user, user_api, django_capture_on_commit_callbacks
):
    first = _ready(user_api, api, png(), purpose="avatar")
    user_api.put(AVATAR, {"upload": first}, format="json")
    old_key = Upload.objects.get(pk=first).key

    second = _ready(user_api, api, jpeg(), purpose="avatar", content_type="image/jpeg")
    with django_capture_on_commit_callbacks(execute=True):
        replaced = user_api.put(AVATAR, {"upload": second}, format="json")

    user.refresh_from_db()
    assert replaced.status_code == 200
    assert user.avatar.name == Upload.objects.get(pk=second).key
    assert not default_storage.exists(old_key)


@pytest.mark.parametrize(
    ("purpose", "content_type", "size", "status", "code"),
    [
        ("avatar", "image/png", 5 * 1024 * 1024 + 1, 413, "PAYLOAD_TOO_LARGE"),
        ("proof", "image/jpeg", 10 * 1024 * 1024 + 1, 413, "PAYLOAD_TOO_LARGE"),
        ("proof", "image/gif", 1000, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("proof", "image/png", 0, 400, "VALIDATION_ERROR"),
        ("banner", "image/png", 1000, 400, "VALIDATION_ERROR"),
    ],
)
def test_create_refuses_what_the_contract_refuses(local_media, user_api, purpose, content_type, size, status, code):
    response = user_api.post(
        "/api/v1/uploads/", {"purpose": purpose, "content_type": content_type, "size": size}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not Upload.objects.exists()


def test_a_proof_may_be_larger_than_an_avatar(local_media, user_api):
    response = user_api.post(
        "/api/v1/uploads/", {"purpose": "proof", "content_type": "image/jpeg", "size": 10 * 1024 * 1024}, format="json"
    )

    assert response.status_code == 201


def test_twenty_first_pending_upload_is_rate_limited(local_media, user_api):
    statuses = [create(user_api, png()).status_code for _ in range(20)]

    refused = create(user_api, png())

    assert statuses == [201] * 20
    assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED")
    assert 0 < int(refused["Retry-After"]) <= 15 * 60 + 1
    assert Upload.objects.count() == 20


def test_pending_uploads_whose_url_expired_no_longer_count(local_media, user_api):
    for _ in range(20):
        create(user_api, png())

    Upload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = create(user_api, png())

    assert response.status_code == 201


def test_someone_elses_upload_is_not_found(local_media, api, user_api):
    other = client_for(UserFactory())
    upload_id = _ready(other, api, png(), purpose="avatar")

    completed = complete(user_api, upload_id)
    used = user_api.put(AVATAR, {"upload": upload_id}, format="json")

    assert (completed.status_code, completed.json()["code"]) == (404, "NOT_FOUND")
    assert (used.status_code, used.json()["code"]) == (404, "NOT_FOUND")
    assert Upload.objects.get(pk=upload_id).status == UploadStatus.READY


def test_expired_url_is_refused_and_nothing_is_stored(local_media, api, user_api):
    content = png()
    target = create(user_api, content).json()
    key = Upload.objects.get().key

    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = local_put(api, target, content)

    assert (response.status_code, response.json()["code"]) == (403, "PERMISSION_DENIED")
    assert not default_storage.exists(key)


def test_a_tampered_url_is_refused(local_media, api, user_api):
    target = create(user_api, png()).json()
    target["url"] = target["url"].rstrip("/") + "x/"

    response = local_put(api, target, png())

    assert (response.status_code, response.json()["code"]) == (403, "PERMISSION_DENIED")


def test_the_local_url_takes_the_bytes_once(local_media, api, user_api):
    content = png()
    target = create(user_api, content).json()

    first = local_put(api, target, content)
    second = local_put(api, target, content[::-1])

    assert first.status_code == 204
    assert (second.status_code, second.json()["code"]) == (409, "CONFLICT")
    assert default_storage.open(Upload.objects.get().key).read() == content


def test_a_body_over_the_declared_size_is_refused_and_not_stored(local_media, api, user_api):
    content = png()
    target = create(user_api, content, size=len(content) - 10).json()

    response = local_put(api, target, content)

    assert (response.status_code, response.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert not default_storage.exists(Upload.objects.get().key)


@pytest.mark.parametrize(
    ("content", "declared_type", "declared_size", "reason"),
    [
        (b"", "image/png", 100, "The file is empty."),
        (png(), "image/jpeg", None, "The file is image/png, not the image/jpeg declared."),
        (png()[:-20], "image/png", len(png()), f"The file has {len(png()) - 20} bytes, not the {len(png())} declared."),
        (b"<html>not an image</html>", "image/png", None, "The file is not a valid image/png image."),
    ],
    ids=["empty", "type-contradicted", "size-mismatch", "not-an-image"],
)
def test_complete_refuses_bad_bytes_and_deletes_the_object(
    local_media, api, user_api, content, declared_type, declared_size, reason
):
    target = create(user_api, content, content_type=declared_type, size=declared_size or len(content)).json()
    key = Upload.objects.get().key
    local_put(api, target, content)

    response = complete(user_api, target["id"])

    assert response.status_code == 400
    assert response.json() == {"error": reason, "code": "UPLOAD_INVALID"}
    assert not default_storage.exists(key)
    assert not Upload.objects.exists()


def test_complete_before_the_bytes_arrive_is_refused(local_media, user_api):
    target = create(user_api, png()).json()

    response = complete(user_api, target["id"])

    assert response.json() == {"error": "No file was uploaded.", "code": "UPLOAD_INVALID"}


def test_complete_twice_is_the_same_answer(local_media, api, user_api):
    upload_id = _ready(user_api, api, png())

    response = complete(user_api, upload_id)

    assert (response.status_code, response.json()["status"]) == (200, "ready")


def test_using_an_upload_before_it_is_complete_is_a_conflict(local_media, api, user_api):
    target = create(user_api, png(), purpose="avatar").json()
    local_put(api, target, png())

    response = user_api.put(AVATAR, {"upload": target["id"]}, format="json")

    assert (response.status_code, response.json()["code"]) == (409, "UPLOAD_NOT_READY")


def test_a_proof_upload_is_not_an_avatar(local_media, api, user, user_api):
    upload_id = _ready(user_api, api, png(), purpose="proof")

    response = user_api.put(AVATAR, {"upload": upload_id}, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
    user.refresh_from_db()
    assert not user.avatar


def test_photo_proof_is_reviewed_with_a_url_that_opens(local_media, api, admin_api, user_api):
    task = photo_task()
    content = png()
    upload_id = _ready(user_api, api, content)

    submitted = user_api.post(submit_url(task), {"upload": upload_id}, format="json")
    queue = admin_api.get("/api/v1/quests/submissions/?status=pending")

    assert submitted.status_code == 201
    assert submitted.json()["status"] == "pending"
    (row,) = queue.json()["results"]
    key = Upload.objects.get(pk=upload_id).key
    assert row["photo_url"] == f"http://testserver/media/{key}"
    assert api.get(urlsplit(row["photo_url"]).path).getvalue() == content
    assert Submission.objects.get().photo_id == upload_id


def test_photo_proof_needs_an_upload(local_media, user_api):
    response = user_api.post(submit_url(photo_task()), {"text": "trust me"}, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
    assert response.json()["details"] == {"upload": ["This field is required."]}


def test_a_photo_is_used_by_one_submission_only(local_media, api, user, user_api):
    upload_id = _ready(user_api, api, png())
    first, second = photo_task(), photo_task()

    accepted = user_api.post(submit_url(first), {"upload": upload_id}, format="json")
    refused = user_api.post(submit_url(second), {"upload": upload_id}, format="json")

    assert accepted.status_code == 201
    assert (refused.status_code, refused.json()["code"]) == (409, "UPLOAD_USED")
    assert Submission.objects.filter(user=user).count() == 1


def test_a_refused_submission_leaves_the_upload_usable(local_media, api, user_api):
    task = photo_task()
    user_api.post(submit_url(task), {"upload": _ready(user_api, api, png())}, format="json")
    spare = _ready(user_api, api, png())

    pending_again = user_api.post(submit_url(task), {"upload": spare}, format="json")

    assert (pending_again.status_code, pending_again.json()["code"]) == (409, "SUBMISSION_PENDING")
    assert Upload.objects.get(pk=spare).status == UploadStatus.READY


def test_review_queue_query_count_does_not_grow_with_photos(local_media, api, admin_api, django_assert_max_num_queries):
    def add_photo_submission():
        owner = client_for(UserFactory())
        owner.post(submit_url(photo_task()), {"upload": _ready(owner, api, png())}, format="json")

    add_photo_submission()
    with django_assert_max_num_queries(4):
        assert len(admin_api.get("/api/v1/quests/submissions/").json()["results"]) == 1
    for _ in range(4):
        add_photo_submission()
    with django_assert_max_num_queries(4):
        assert len(admin_api.get("/api/v1/quests/submissions/").json()["results"]) == 5


def test_purge_deletes_stale_unfinished_and_unused_uploads_with_their_objects(
    local_media, api, user, user_api, settings
):
    settings.UPLOAD_TTL_HOURS = 24
    unfinished = create(user_api, png()).json()
    local_put(api, unfinished, png())
    unused = _ready(user_api, api, png(), purpose="avatar")
    used = _ready(user_api, api, png(), purpose="avatar")
    user_api.put(AVATAR, {"upload": used}, format="json")
    keys = {upload.pk: upload.key for upload in Upload.objects.all()}
    Upload.objects.update(created_at=timezone.now() - timedelta(hours=25))
    recent = _ready(user_api, api, png())
    keys[recent] = Upload.objects.get(pk=recent).key

    purged = purge_stale_uploads()

    assert purged == 2
    assert sorted(Upload.objects.values_list("pk", flat=True)) == sorted([used, recent])
    assert not default_storage.exists(keys[unfinished["id"]])
    assert not default_storage.exists(keys[unused])
    assert default_storage.exists(keys[used]) and default_storage.exists(keys[recent])
    assert purge_stale_uploads() == 0


@pytest.mark.django_db(transaction=True)
def test_racing_uses_of_one_upload_let_exactly_one_win(local_media, api):
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks and concurrent connections")
    owner = UserFactory()
    upload_id = _ready(client_for(owner), api, png(), purpose="avatar")
    threads = 10
    barrier = threading.Barrier(threads)

    def use(_: int) -> int:
        try:
            client = client_for(owner)
            barrier.wait(timeout=30)
            return client.put(AVATAR, {"upload": upload_id}, format="json").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(threads) as pool:
        statuses = sorted(pool.map(use, range(threads)))

    assert statuses == [200] + [409] * (threads - 1)
    assert Upload.objects.get(pk=upload_id).status == UploadStatus.USED


@pytest.mark.django_db(transaction=True)
def test_racing_creates_never_pass_twenty_pending(local_media):
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks and concurrent connections")
    owner = UserFactory()
    for _ in range(15):
        create(client_for(owner), png())
    threads = 10
    barrier = threading.Barrier(threads)

    def create_one(_: int) -> int:
        try:
            client = client_for(owner)
            barrier.wait(timeout=30)
            return create(client, png()).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(threads) as pool:
        statuses = sorted(pool.map(create_one, range(threads)))

    assert statuses == [201] * 5 + [429] * 5
    assert Upload.objects.filter(owner=owner, status=SubmissionStatus.PENDING).count() == 20


def _noise(fmt: str, side: int = 400) -> bytes:
    """An image of random pixels, larger than the 256 KiB ``complete`` reads."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(side).randbytes(side * side * 3)).save(buffer, format=fmt)
    return buffer.getvalue()


def test_a_large_photo_is_judged_by_its_header(local_media, api, user_api):
    content = _noise("PNG")
    assert len(content) > 256 * 1024

    upload_id = _ready(user_api, api, content)

    assert Upload.objects.get(pk=upload_id).status == UploadStatus.READY


def test_a_large_file_of_another_type_is_refused(local_media, api, user_api):
    content = _noise("JPEG", side=700)
    assert len(content) > 256 * 1024
    target = create(user_api, content, content_type="image/webp").json()
    local_put(api, target, content)

    response = complete(user_api, target["id"])

    assert response.json() == {
        "error": "The file is image/jpeg, not the image/webp declared.",
        "code": "UPLOAD_INVALID",
    }


def test_the_purge_runs_hourly_on_the_low_queue(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["uploads-purge-stale-uploads"]

    assert (entry["task"], entry["schedule"]) == ("uploads.purge_stale_uploads", 3600.0)
    assert settings.CELERY_TASK_ROUTES["uploads.purge_stale_uploads"] == {"queue": "low"}
