"""
The schedule documents' tag changes after every kind of edit (import, sync,
admin, API; sessions, rooms, tracks, speakers, the conference), and the
document shows the change. The edits commit for real (transactional tests),
so the after-commit hooks run as in production.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler
from io import StringIO
from pathlib import Path

import lxml.html
import pytest
from django.core.management import call_command
from django.test import Client

from conferences.models import Conference, Room, Session, SessionSpeaker
from tests.conferences.schedules import load
from tests.factories import (
    AdminUserFactory,
    ConferenceFactory,
    RoomFactory,
    SessionFactory,
    SpeakerFactory,
    TrackFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


def document(api, slug: str) -> tuple[str, dict]:
    response = api.get(f"/api/v1/conferences/{slug}/schedule.json")
    assert response.status_code == 200
    return response["ETag"], json.loads(response.content)


def events(doc: dict) -> list[dict]:
    return [e for day in doc["schedule"]["conference"]["days"] for es in day["rooms"].values() for e in es]


@pytest.fixture
def conference(db):
    conference = ConferenceFactory(slug="fresh", timezone="UTC")
    room = RoomFactory(conference=conference, name="Hall A")
    track = TrackFactory(conference=conference, name="Main")
    speaker = SpeakerFactory(conference=conference, name="Ada")
    session = SessionFactory(
        conference=conference,
        room=room,
        track=track,
        title="Opening",
        starts_at=datetime(2026, 5, 1, 9, tzinfo=UTC),
        ends_at=datetime(2026, 5, 1, 10, tzinfo=UTC),
    )
    SessionSpeaker.objects.create(session=session, speaker=speaker)
    return conference


# --- Import and sync ---------------------------------------------------------------------


def test_import_changes_the_tag_and_the_same_import_keeps_it(admin_api, api):
    conference = ConferenceFactory(slug="imp")
    before, _ = document(api, "imp")

    admin_api.post("/api/v1/conferences/imp/schedule-import/", load("pretalx-democon.json"), format="json")
    after_import, doc = document(api, "imp")
    admin_api.post("/api/v1/conferences/imp/schedule-import/", load("pretalx-democon.json"), format="json")
    after_same, _ = document(api, "imp")

    assert after_import != before
    assert len(events(doc)) == 36
    assert after_same == after_import
    assert Conference.objects.get(pk=conference.pk).agenda_version == 2


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def schedule_server(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_sync_from_a_url_changes_the_tag(api, schedule_server):
    folder, base = schedule_server
    data = load("frab-camp2019.json")
    Path(folder, "schedule.json").write_text(json.dumps(data))
    call_command("import_schedule", "camp", f"{base}/schedule.json", "--create", stdout=StringIO(), stderr=StringIO())
    before, _ = document(api, "camp")
    first = data["schedule"]["conference"]["days"][0]["rooms"]["Curie"][0]
    first["title"] = "Opening Ceremony, moved"
    Path(folder, "schedule.json").write_text(json.dumps(data))

    call_command("import_schedule", "camp", f"{base}/schedule.json", stdout=StringIO())
    after, doc = document(api, "camp")

    assert after != before
    assert "Opening Ceremony, moved" in {e["title"] for e in events(doc)}


# --- The API -----------------------------------------------------------------------------------


def test_api_session_edit_changes_the_tag(admin_api, api, conference):
    session = Session.objects.get(conference=conference)
    before, _ = document(api, "fresh")

    response = admin_api.patch(f"/api/v1/conferences/fresh/sessions/{session.pk}/", {"title": "Keynote"}, format="json")
    after, doc = document(api, "fresh")

    assert response.status_code == 200
    assert after != before
    assert [e["title"] for e in events(doc)] == ["Keynote"]


def test_api_session_create_and_delete_change_the_tag(admin_api, api, conference):
    tags = [document(api, "fresh")[0]]
    created = admin_api.post(
        "/api/v1/conferences/fresh/sessions/",
        {"title": "Late", "starts_at": "2026-05-01T20:00:00Z", "ends_at": "2026-05-01T21:00:00Z"},
        format="json",
    )
    tags.append(document(api, "fresh")[0])
    deleted = admin_api.delete(f"/api/v1/conferences/fresh/sessions/{created.json()['id']}/")
    tag, doc = document(api, "fresh")
    tags.append(tag)

    assert (created.status_code, deleted.status_code) == (201, 204)
    assert len(set(tags)) == 3
    assert [e["title"] for e in events(doc)] == ["Opening"]


def test_api_room_edits_change_the_tag(admin_api, api, conference):
    room = Room.objects.get(conference=conference)
    tags = [document(api, "fresh")[0]]

    renamed = admin_api.patch(f"/api/v1/conferences/fresh/rooms/{room.pk}/", {"name": "Hall B"}, format="json")
    tag, doc = document(api, "fresh")
    tags.append(tag)
    created = admin_api.post("/api/v1/conferences/fresh/rooms/", {"name": "Hall C"}, format="json")
    tags.append(document(api, "fresh")[0])
    deleted = admin_api.delete(f"/api/v1/conferences/fresh/rooms/{room.pk}/")
    tag, after_delete = document(api, "fresh")
    tags.append(tag)

    assert (renamed.status_code, created.status_code, deleted.status_code) == (200, 201, 204)
    assert renamed.json() == {"id": room.pk, "name": "Hall B"}
    assert len(set(tags)) == 4
    assert events(doc)[0]["room"] == "Hall B"
    assert events(after_delete)[0]["room"] == ""
    assert [r["name"] for r in after_delete["schedule"]["conference"]["rooms"]] == ["Hall C"]


def test_api_room_duplicate_name_is_a_400_and_changes_nothing(admin_api, api, conference):
    before, _ = document(api, "fresh")

    response = admin_api.post("/api/v1/conferences/fresh/rooms/", {"name": "Hall A"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert Room.objects.filter(conference=conference).count() == 1
    assert document(api, "fresh")[0] == before


def test_api_track_edits_change_the_tag(admin_api, api, conference):
    track = conference.tracks.get()
    tags = [document(api, "fresh")[0]]

    renamed = admin_api.patch(
        f"/api/v1/conferences/fresh/tracks/{track.pk}/", {"name": "Security", "color": "#aa0000"}, format="json"
    )
    tag, doc = document(api, "fresh")
    tags.append(tag)
    deleted = admin_api.delete(f"/api/v1/conferences/fresh/tracks/{track.pk}/")
    tag, after_delete = document(api, "fresh")
    tags.append(tag)

    assert (renamed.status_code, deleted.status_code) == (200, 204)
    assert len(set(tags)) == 3
    assert events(doc)[0]["track"] == "Security"
    assert doc["schedule"]["conference"]["tracks"] == [{"name": "Security", "color": "#aa0000"}]
    assert events(after_delete)[0]["track"] is None


def test_api_speaker_edits_change_the_tag(admin_api, api, conference):
    speaker = conference.speakers.get()
    tags = [document(api, "fresh")[0]]

    renamed = admin_api.patch(
        f"/api/v1/conferences/fresh/speakers/{speaker.pk}/", {"name": "Ada Lovelace", "bio": "Notes."}, format="json"
    )
    tag, doc = document(api, "fresh")
    tags.append(tag)
    created = admin_api.post("/api/v1/conferences/fresh/speakers/", {"name": "Grace"}, format="json")
    tags.append(document(api, "fresh")[0])
    deleted = admin_api.delete(f"/api/v1/conferences/fresh/speakers/{speaker.pk}/")
    tag, after_delete = document(api, "fresh")
    tags.append(tag)

    assert (renamed.status_code, created.status_code, deleted.status_code) == (200, 201, 204)
    assert len(set(tags)) == 4
    assert [(p["name"], p["biography"]) for p in events(doc)[0]["persons"]] == [("Ada Lovelace", "Notes.")]
    assert events(after_delete)[0]["persons"] == []


def test_api_conference_edit_changes_the_tag(admin_api, api, conference):
    before, _ = document(api, "fresh")

    response = admin_api.patch("/api/v1/conferences/fresh/", {"timezone": "Europe/Berlin"}, format="json")
    after, doc = document(api, "fresh")

    assert response.status_code == 200
    assert after != before
    assert events(doc)[0]["date"] == "2026-05-01T11:00:00+02:00"


def test_unauthenticated_room_write_is_refused(api, conference):
    response = api.post("/api/v1/conferences/fresh/rooms/", {"name": "X"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"


# --- The Django admin, through the test client --------------------------------------------------


@pytest.fixture
def browser() -> Client:
    client = Client()
    client.force_login(AdminUserFactory(is_superuser=True))
    return client


def admin_form(browser: Client, url: str) -> dict[str, str | list[str]]:
    """The values a browser would send for the admin form at ``url``, as it stands."""
    response = browser.get(url)
    assert response.status_code == 200
    form = next(f for f in lxml.html.fromstring(response.content).forms if f.get("id", "").endswith("_form"))
    values: dict[str, str | list[str]] = {}
    for name, value in form.form_values():
        if name in values:
            existing = values[name]
            values[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            values[name] = value
    return values


def test_admin_session_save_changes_the_tag(browser, api, conference):
    session = Session.objects.get(conference=conference)
    before, _ = document(api, "fresh")
    url = f"/admin/conferences/session/{session.pk}/change/"
    data = admin_form(browser, url)
    data["title"] = "Opening, renamed in the admin"

    response = browser.post(url, data)
    after, doc = document(api, "fresh")

    assert response.status_code == 302, response.content.decode()[:2000]
    assert after != before
    assert [e["title"] for e in events(doc)] == ["Opening, renamed in the admin"]


def test_admin_session_speakers_inline_changes_the_tag(browser, api, conference):
    session = Session.objects.get(conference=conference)
    grace = SpeakerFactory(conference=conference, name="Grace")
    before, _ = document(api, "fresh")
    url = f"/admin/conferences/session/{session.pk}/change/"
    data = admin_form(browser, url)
    # The extra inline row: Grace first (position 0), Ada moves behind her.
    data["sessionspeaker_set-0-position"] = "5"
    data["sessionspeaker_set-1-speaker"] = str(grace.pk)
    data["sessionspeaker_set-1-position"] = "0"

    response = browser.post(url, data)
    after, doc = document(api, "fresh")

    assert response.status_code == 302, response.content.decode()[:2000]
    assert after != before
    assert [p["name"] for p in events(doc)[0]["persons"]] == ["Grace", "Ada"]
    assert list(session.sessionspeaker_set.order_by("position").values_list("speaker__name", "position")) == [
        ("Grace", 0),
        ("Ada", 1),
    ]


def test_admin_room_inline_adds_a_session_seen_in_the_agenda_and_export(browser, api, conference):
    room = Room.objects.get(conference=conference)
    before, _ = document(api, "fresh")
    url = f"/admin/conferences/room/{room.pk}/change/"
    data = admin_form(browser, url)
    prefix = "sessions"
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    data.update(
        {
            f"{prefix}-{index}-title": "Added in the room admin",
            f"{prefix}-{index}-starts_at_0": "2026-05-01",
            f"{prefix}-{index}-starts_at_1": "14:00:00",
            f"{prefix}-{index}-ends_at_0": "2026-05-01",
            f"{prefix}-{index}-ends_at_1": "14:45:00",
            f"{prefix}-{index}-type": "Talk",
            f"{prefix}-{index}-language": "en",
            f"{prefix}-{index}-room": str(room.pk),
        }
    )

    response = browser.post(url, data)
    after, doc = document(api, "fresh")
    agenda = api.get("/api/v1/conferences/fresh/sessions/").json()

    assert response.status_code == 302, response.content.decode()[:3000]
    added = Session.objects.get(conference=conference, title="Added in the room admin")
    assert added.room == room
    assert len(added.guid) == 36
    assert after != before
    assert [(e["title"], e["room"], e["date"], e["duration"]) for e in events(doc)] == [
        ("Opening", "Hall A", "2026-05-01T09:00:00+00:00", "1:00"),
        ("Added in the room admin", "Hall A", "2026-05-01T14:00:00+00:00", "0:45"),
    ]
    assert [s["title"] for s in agenda["results"]] == ["Opening", "Added in the room admin"]


def test_admin_track_and_speaker_saves_change_the_tag(browser, api, conference):
    track = conference.tracks.get()
    speaker = conference.speakers.get()
    tags = [document(api, "fresh")[0]]

    url = f"/admin/conferences/track/{track.pk}/change/"
    data = admin_form(browser, url)
    data["name"] = "Renamed track"
    assert browser.post(url, data).status_code == 302
    tag, doc = document(api, "fresh")
    tags.append(tag)
    url = f"/admin/conferences/speaker/{speaker.pk}/change/"
    data = admin_form(browser, url)
    data["name"] = "Renamed speaker"
    assert browser.post(url, data).status_code == 302
    tag, doc2 = document(api, "fresh")
    tags.append(tag)

    assert len(set(tags)) == 3
    assert events(doc)[0]["track"] == "Renamed track"
    assert events(doc2)[0]["persons"][0]["name"] == "Renamed speaker"


def test_admin_session_delete_changes_the_tag(browser, api, conference):
    session = Session.objects.get(conference=conference)
    before, _ = document(api, "fresh")

    response = browser.post(f"/admin/conferences/session/{session.pk}/delete/", {"post": "yes"})
    after, doc = document(api, "fresh")

    assert response.status_code == 302
    assert after != before
    assert events(doc) == []
