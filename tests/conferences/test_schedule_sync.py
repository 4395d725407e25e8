"""Syncing a conference from its schedule_url against a local pretalx-like server."""

from __future__ import annotations

import pytest

from conferences.models import Bookmark, Conference, PendingSessionChange, Session
from conferences.tasks import sync_schedules_task
from tests.conferences.schedules import edited, events_of, load
from tests.conftest import client_for
from tests.factories import AdminUserFactory, ConferenceFactory, UserFactory
from tests.fakes.schedule import FakeScheduleServer

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def _server():
    with FakeScheduleServer() as server:
        yield server


@pytest.fixture
def server(_server):
    _server.reset()
    _server.publish(load("pretalx-democon.json"))
    return _server


@pytest.fixture
def conf(server):
    return ConferenceFactory(slug="democon", timezone="Europe/Berlin", schedule_url=server.schedule_url)


def _sync(api, slug="democon"):
    return api.post(f"/api/v1/conferences/{slug}/schedule-sync/")


def test_sync_now_imports_the_schedule_and_records_the_outcome(admin_api, conf, server):
    response = _sync(admin_api)

    assert response.status_code == 200
    assert response.json() == {"created": 36, "updated": 0, "unchanged": 0, "removed": 0}
    assert Session.objects.filter(conference=conf).count() == 36
    conf.refresh_from_db()
    assert conf.schedule_sync_outcome == "ok: 36 created, 0 updated, 0 unchanged, 0 removed"
    assert conf.schedule_synced_at is not None
    assert conf.schedule_etag == server.etag


def test_beat_sync_sends_if_none_match_and_a_304_changes_nothing(conf, server):
    assert sync_schedules_task() == 1
    stamp = Conference.objects.get(pk=conf.pk).updated_at
    assert sync_schedules_task() == 1

    [first, second] = server.requests
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"] == server.etag
    conf.refresh_from_db()
    assert conf.schedule_sync_outcome == "not modified (304)"
    assert conf.updated_at == stamp
    assert Session.objects.filter(conference=conf).count() == 36


def test_a_changed_file_is_imported_on_the_next_beat_and_bookmarkers_hear_of_it(conf, server):
    sync_schedules_task()
    data = edited(load("pretalx-democon.json"))
    event = events_of(data)[0]
    session = Session.objects.get(conference=conf, guid=event["guid"])
    Bookmark.objects.create(user=UserFactory(), session=session)
    event["room"] = "Tan Room"
    server.publish(data)

    sync_schedules_task()

    conf.refresh_from_db()
    assert conf.schedule_sync_outcome == "ok: 0 created, 1 updated, 35 unchanged, 0 removed"
    assert PendingSessionChange.objects.filter(session_key=session.pk).exists()


@pytest.mark.parametrize(
    ("publish", "trouble", "reason"),
    [
        (b"not json at all", None, "The schedule_url did not return JSON."),
        (
            {"schedule": {"version": 1}},
            None,
            "The schedule_url returned an invalid schedule: The schedule file is not valid",
        ),
        (None, 500, "The schedule_url answered HTTP 500."),
        (None, 404, "The schedule_url answered HTTP 404."),
    ],
)
def test_a_bad_answer_is_a_502_naming_why_and_changes_nothing(admin_api, conf, server, publish, trouble, reason):
    _sync(admin_api)
    before = list(Session.objects.filter(conference=conf).values_list("pk", "starts_at", "room_id"))
    if publish is not None:
        server.publish(publish)
    if trouble:
        server.trouble(trouble)

    response = _sync(admin_api)

    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "SCHEDULE_FETCH_FAILED"
    assert body["error"].startswith(reason)
    assert list(Session.objects.filter(conference=conf).values_list("pk", "starts_at", "room_id")) == before
    conf.refresh_from_db()
    assert conf.schedule_sync_outcome.startswith(f"failed: {reason}")


def test_a_slow_server_times_out(admin_api, conf, server, settings):
    settings.SCHEDULE_SYNC_TIMEOUT = 0.5
    server.trouble(200, load("pretalx-democon.json"), delay=2)

    response = _sync(admin_api)

    assert response.status_code == 502
    assert response.json()["error"] == "The schedule_url did not answer within 0.5 seconds."
    assert Session.objects.filter(conference=conf).count() == 0


def test_a_file_too_large_is_refused(admin_api, conf, server, settings):
    settings.SCHEDULE_SYNC_MAX_BYTES = 1000

    response = _sync(admin_api)

    assert response.status_code == 502
    assert response.json()["error"] == "The schedule at schedule_url is larger than 1000 bytes."
    assert Session.objects.filter(conference=conf).count() == 0


def test_an_unreachable_url_is_a_502(admin_api, db):
    ConferenceFactory(slug="gone", schedule_url="http://127.0.0.1:9/schedule.json")

    response = _sync(admin_api, "gone")

    assert response.status_code == 502
    assert response.json()["error"] == "The schedule_url could not be reached: ConnectError."


def test_no_schedule_url_is_a_409(admin_api, db):
    ConferenceFactory(slug="plain")

    response = _sync(admin_api, "plain")

    assert response.status_code == 409
    assert response.json() == {"error": "This conference has no schedule_url to sync from.", "code": "NO_SCHEDULE_URL"}


def test_only_admins_sync(api, conf):
    assert _sync(api).status_code == 401
    assert _sync(client_for(UserFactory())).status_code == 403


def test_schedule_url_is_admin_only(admin_api, api, db):
    created = admin_api.post(
        "/api/v1/conferences/",
        {
            "slug": "c1",
            "name": "C1",
            "timezone": "UTC",
            "starts_on": "2026-01-01",
            "ends_on": "2026-01-02",
            "schedule_url": "https://pretalx.example/c1/schedule/export/schedule.json",
        },
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["schedule_url"] == "https://pretalx.example/c1/schedule/export/schedule.json"
    assert "schedule_url" not in api.get("/api/v1/conferences/c1/").json()
    assert "schedule_url" not in api.get("/api/v1/conferences/").json()["results"][0]
    assert admin_api.get("/api/v1/conferences/c1/").json()["schedule_url"].startswith("https://pretalx")
    patched = admin_api.patch("/api/v1/conferences/c1/", {"schedule_url": ""}, format="json")
    assert patched.status_code == 200
    assert Conference.objects.get(slug="c1").schedule_url == ""


def test_admin_shows_the_last_sync(conf, server, client):
    sync_schedules_task()
    client.force_login(AdminUserFactory(is_superuser=True))
    page = client.get(f"/admin/conferences/conference/{conf.pk}/change/")
    assert page.status_code == 200
    assert "ok: 36 created, 0 updated, 0 unchanged, 0 removed" in page.content.decode()
