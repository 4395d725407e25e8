"""The notifications REST endpoints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification
from notifications.services import notify
from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _notification(user, title="t", *, read=False, ago=0):
    n = Notification.objects.create(
        user=user, kind="session_reminder", title=title, read_at=timezone.now() if read else None
    )
    if ago:
        Notification.objects.filter(pk=n.pk).update(created_at=timezone.now() - timedelta(minutes=ago))
        n.refresh_from_db()
    return n


def test_list_is_newest_first_with_contract_fields(user_api, user):
    older = _notification(user, "older", ago=5)
    newer = notify(user, kind="submission_reviewed", title="newer", body="b", data={"x": 1})[0]
    _notification(UserFactory(), "someone else's")

    response = user_api.get("/api/v1/notifications/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [n["id"] for n in body["results"]] == [newer.pk, older.pk]
    assert body["results"][0] == {
        "id": newer.pk,
        "kind": "submission_reviewed",
        "title": "newer",
        "body": "b",
        "data": {"x": 1},
        "created_at": newer.created_at.isoformat().replace("+00:00", "Z"),
        "read_at": None,
    }


def test_list_unread_filter(user_api, user):
    unread = _notification(user, "unread")
    _notification(user, "read", read=True)

    response = user_api.get("/api/v1/notifications/?unread=true")

    assert [n["id"] for n in response.json()["results"]] == [unread.pk]


@pytest.mark.parametrize("items", [1, 5])
def test_list_query_count_is_constant(user, items, django_assert_max_num_queries):
    for i in range(items):
        _notification(user, f"n{i}")
    client = client_for(user)

    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/notifications/")

    assert response.json()["count"] == items


def test_list_requires_login(api):
    response = api.get("/api/v1/notifications/")

    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"


def test_unread_count(user_api, user):
    _notification(user)
    _notification(user)
    _notification(user, read=True)
    _notification(UserFactory())

    response = user_api.get("/api/v1/notifications/unread-count/")

    assert response.status_code == 200
    assert response.json() == {"count": 2}


def test_read_one_marks_it_read(user_api, user):
    n = _notification(user)

    response = user_api.post(f"/api/v1/notifications/{n.pk}/read/")

    n.refresh_from_db()
    assert response.status_code == 200
    assert response.json()["id"] == n.pk
    assert response.json()["read_at"] == n.read_at.isoformat().replace("+00:00", "Z")
    assert n.read_at is not None


def test_read_one_twice_keeps_the_first_time(user_api, user):
    n = _notification(user)
    first = user_api.post(f"/api/v1/notifications/{n.pk}/read/").json()["read_at"]

    second = user_api.post(f"/api/v1/notifications/{n.pk}/read/")

    assert second.status_code == 200
    assert second.json()["read_at"] == first


def test_read_someone_elses_is_404(user_api):
    theirs = _notification(UserFactory())

    response = user_api.post(f"/api/v1/notifications/{theirs.pk}/read/")

    theirs.refresh_from_db()
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert theirs.read_at is None


def test_read_all_marks_only_the_callers(user_api, user):
    _notification(user)
    _notification(user)
    theirs = _notification(UserFactory())

    response = user_api.post("/api/v1/notifications/read-all/")

    assert response.status_code == 200
    assert response.json() == {"updated": 2}
    assert Notification.objects.filter(user=user, read_at__isnull=True).count() == 0
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert user_api.get("/api/v1/notifications/unread-count/").json() == {"count": 0}


def test_schema_describes_the_endpoints(api):
    paths = api.get("/api/schema/?format=json").json()["paths"]

    assert {
        "/api/v1/notifications/",
        "/api/v1/notifications/unread-count/",
        "/api/v1/notifications/{id}/read/",
        "/api/v1/notifications/read-all/",
        "/api/v1/admin/broadcasts/",
        "/api/v1/admin/broadcasts/preview/",
        "/api/v1/admin/broadcasts/{id}/",
        "/api/v1/admin/broadcasts/{id}/cancel/",
    } <= set(paths)
