from __future__ import annotations

import threading
from datetime import datetime, timedelta
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from conferences.models import Bookmark, Conference, Room, Session, SessionSpeaker, Speaker, Track
from conferences.services import import_schedule
from tests.conferences.schedules import DATA, VALID, edited, events_of, load
from tests.factories import ConferenceFactory, SessionFactory, SpeakerFactory, UserFactory

pytestmark = pytest.mark.django_db


def _import_url(slug: str) -> str:
    return f"/api/v1/conferences/{slug}/schedule-import/"


def _snapshot(conference: Conference) -> list[tuple]:
    return [
        (
            s.guid,
            s.title,
            s.starts_at,
            s.ends_at,
            s.room_id,
            s.track_id,
            s.updated_at,
            tuple(s.speakers.values_list("pk", flat=True)),
        )
        for s in Session.objects.filter(conference=conference).order_by("guid")
    ]


@pytest.mark.parametrize("name", sorted(VALID))
def test_import_real_schedule_creates_every_session(admin_api, name):
    conference = ConferenceFactory()

    response = admin_api.post(_import_url(conference.slug), load(name), format="json")

    assert response.status_code == 200
    assert response.json() == {"created": VALID[name], "updated": 0, "unchanged": 0, "removed": 0}
    assert Session.objects.filter(conference=conference).count() == VALID[name]
    guids = {event["guid"] for event in events_of(load(name))}
    assert set(Session.objects.filter(conference=conference).values_list("guid", flat=True)) == guids


@pytest.mark.parametrize("name", sorted(VALID))
def test_reimport_same_file_changes_nothing(admin_api, name):
    conference = ConferenceFactory()
    admin_api.post(_import_url(conference.slug), load(name), format="json")
    before = _snapshot(conference)
    speakers_before = list(Speaker.objects.filter(conference=conference).values_list("pk", "name", "updated_at"))

    response = admin_api.post(_import_url(conference.slug), load(name), format="json")

    assert response.status_code == 200
    assert response.json() == {"created": 0, "updated": 0, "unchanged": VALID[name], "removed": 0}
    assert _snapshot(conference) == before
    assert (
        list(Speaker.objects.filter(conference=conference).values_list("pk", "name", "updated_at")) == speakers_before
    )


def test_import_session_fields_and_speakers_in_order():
    conference = ConferenceFactory(timezone="UTC")

    import_schedule(conference, load("frab-camp2019.json"))

    session = Session.objects.get(conference=conference, guid="a0a0fcfe-b7fb-46e3-84b6-97a5406016b4")
    assert session.title == "Opening Ceremony"
    assert session.abstract == "A hearty welcome me lasses and lads!"
    assert session.starts_at == datetime.fromisoformat("2019-08-21T11:00:00+02:00")
    assert session.ends_at == datetime.fromisoformat("2019-08-21T11:30:00+02:00")
    assert session.room.name == "Curie"
    assert session.track.name == "CCC"
    assert session.type == "lecture"
    assert session.language == "en"
    assert session.url == "https://fahrplan.events.ccc.de/camp/2019/Fahrplan/events/10386.html"
    names = [link.speaker.name for link in SessionSpeaker.objects.filter(session=session).order_by("position")]
    assert names == ["jinxx", "smtw"]


def test_import_frab_persons_without_codes_are_keyed_by_name():
    conference = ConferenceFactory()
    data = load("frab-camp2019.json")
    distinct_names = {p["public_name"].strip() for e in events_of(data) for p in e["persons"]}

    import_schedule(conference, data)

    speakers = Speaker.objects.filter(conference=conference)
    assert speakers.count() == len(distinct_names)
    assert set(speakers.values_list("external_id", flat=True)) == {""}
    assert set(speakers.values_list("name", flat=True)) == distinct_names


def test_import_pretalx_persons_keyed_by_code_with_biography():
    conference = ConferenceFactory()

    import_schedule(conference, load("pretalx-democon.json"))

    speaker = Speaker.objects.get(conference=conference, external_id="NQTF8Y")
    assert speaker.name == "Brian Robinson"
    assert speaker.bio.startswith("Break through direction.")
    assert Speaker.objects.filter(conference=conference).count() == 27


def test_import_rooms_sharing_a_guid_stay_two_rooms():
    conference = ConferenceFactory()

    import_schedule(conference, load("pretalx-democon.json"))

    rooms = Room.objects.filter(conference=conference).order_by("position")
    assert [(r.name, r.guid) for r in rooms] == [
        ("Gray Room", "b379c473-93b9-4eae-9a09-d482e86cede3"),
        ("Tan Room", "b379c473-93b9-4eae-9a09-d482e86cede3"),
    ]
    assert Session.objects.filter(room=rooms[0]).count() + Session.objects.filter(room=rooms[1]).count() == 36


def test_import_without_time_zone_name_uses_offsets_in_dates():
    conference = ConferenceFactory(timezone="America/New_York")

    import_schedule(conference, load("pretalx-rc3.json"))

    session = Session.objects.get(conference=conference, guid="c3642671-4c1f-5109-81ba-0535c1cc8428")
    assert session.starts_at == datetime.fromisoformat("2020-12-27T10:30:00+00:00")
    assert session.ends_at - session.starts_at == timedelta(minutes=40)


def test_same_file_feeds_two_conferences_independently():
    first, second = ConferenceFactory(), ConferenceFactory()

    import_schedule(first, load("pretalx-democon.json"))
    counts = import_schedule(second, load("pretalx-democon.json"))

    assert counts == {"created": 36, "updated": 0, "unchanged": 0, "removed": 0}
    assert Session.objects.filter(conference=first).count() == 36
    assert Session.objects.filter(conference=second).count() == 36


def test_reimport_updates_moved_and_renamed_talk_and_removes_vanished_talk():
    conference = ConferenceFactory()
    original = load("pretalx-democon.json")
    import_schedule(conference, original)
    data = edited(original)
    rooms = data["schedule"]["conference"]["days"][0]["rooms"]
    moved = rooms["Gray Room"][0]
    moved["title"] = "Renamed: focused hardware"
    moved["date"] = "2020-12-14T16:00:00+01:00"
    moved["start"] = "16:00"
    vanished = rooms["Gray Room"].pop(1)
    renamed_only = rooms["Tan Room"][0]
    renamed_only["title"] = "A new title"

    counts = import_schedule(conference, data)

    assert counts == {"created": 0, "updated": 2, "unchanged": 33, "removed": 1}
    session = Session.objects.get(conference=conference, guid=moved["guid"])
    assert session.title == "Renamed: focused hardware"
    assert session.starts_at == datetime.fromisoformat("2020-12-14T16:00:00+01:00")
    assert session.ends_at == datetime.fromisoformat("2020-12-14T16:30:00+01:00")
    assert Session.objects.get(conference=conference, guid=renamed_only["guid"]).title == "A new title"
    assert not Session.objects.filter(conference=conference, guid=vanished["guid"]).exists()


def test_reimport_moves_talk_to_another_room_and_changes_speakers():
    conference = ConferenceFactory()
    original = load("pretalx-democon.json")
    import_schedule(conference, original)
    data = edited(original)
    rooms = data["schedule"]["conference"]["days"][0]["rooms"]
    talk = rooms["Gray Room"].pop(0)
    talk["room"] = "Tan Room"
    talk["persons"] = [{"code": "NEWONE", "name": "New Person", "biography": "Hi."}]
    rooms["Tan Room"].append(talk)

    counts = import_schedule(conference, data)

    assert counts == {"created": 0, "updated": 1, "unchanged": 35, "removed": 0}
    session = Session.objects.get(conference=conference, guid=talk["guid"])
    assert session.room.name == "Tan Room"
    assert [s.name for s in session.speakers.all()] == ["New Person"]


def test_removed_talk_takes_its_bookmarks_with_it():
    conference = ConferenceFactory()
    original = load("pretalx-democon.json")
    import_schedule(conference, original)
    data = edited(original)
    gone = data["schedule"]["conference"]["days"][0]["rooms"]["Gray Room"].pop(0)
    Bookmark.objects.create(user=UserFactory(), session=Session.objects.get(conference=conference, guid=gone["guid"]))

    import_schedule(conference, data)

    assert Bookmark.objects.count() == 0


def test_reimport_keeps_speaker_link_to_user_and_organizer_bio_when_file_has_none():
    conference = ConferenceFactory()
    import_schedule(conference, load("frab-camp2019.json"))
    speaker = Speaker.objects.get(conference=conference, name="jinxx")
    user = UserFactory()
    Speaker.objects.filter(pk=speaker.pk).update(user=user, bio="Written by the organizers.")

    import_schedule(conference, load("frab-camp2019.json"))

    speaker.refresh_from_db()
    assert speaker.user == user
    assert speaker.bio == "Written by the organizers."


def test_invalid_file_is_refused_with_400_naming_the_problem_and_nothing_changes(admin_api):
    conference = ConferenceFactory()
    admin_api.post(_import_url(conference.slug), load("pretalx-democon.json"), format="json")
    before = _snapshot(conference)
    rooms_before = Room.objects.count()

    response = admin_api.post(_import_url(conference.slug), load("invalid-example.json"), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["error"].startswith("The schedule file is not valid: ")
    assert "$.schedule.rooms: this key is not allowed here" in body["details"]["schedule"]
    assert (
        "$.schedule.conference.days[0].rooms.Winterchaos[0].id: '2814' is not of type 'integer'"
        in body["details"]["schedule"]
    )
    assert _snapshot(conference) == before
    assert Room.objects.count() == rooms_before


def test_semantic_error_after_schema_is_refused_and_nothing_changes(admin_api):
    conference = ConferenceFactory()
    data = load("pretalx-democon.json")
    events_of(data)[3]["date"] = "14th of December"

    response = admin_api.post(_import_url(conference.slug), data, format="json")

    assert response.status_code == 400
    assert "is not an ISO 8601 date-time" in response.json()["error"]
    assert Session.objects.count() == 0
    assert Room.objects.count() == 0


def test_duplicate_event_guid_in_one_file_is_refused(admin_api):
    conference = ConferenceFactory()
    data = load("pretalx-democon.json")
    events = events_of(data)
    events[1]["guid"] = events[0]["guid"]

    response = admin_api.post(_import_url(conference.slug), data, format="json")

    assert response.status_code == 400
    assert "is used by another event too" in response.json()["error"]


def test_not_an_object_is_refused(admin_api):
    conference = ConferenceFactory()

    response = admin_api.post(_import_url(conference.slug), [1, 2], format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_import_removes_sessions_not_in_file():
    conference = ConferenceFactory()
    SessionFactory(conference=conference, guid="hand-made")

    counts = import_schedule(conference, load("pretalx-democon.json"))

    assert counts["removed"] == 1
    assert not Session.objects.filter(guid="hand-made").exists()


def test_import_needs_admin(api, user_api):
    conference = ConferenceFactory()

    anonymous = api.post(_import_url(conference.slug), load("pretalx-democon.json"), format="json")
    user = user_api.post(_import_url(conference.slug), load("pretalx-democon.json"), format="json")

    assert anonymous.status_code == 401
    assert user.status_code == 403
    assert Session.objects.count() == 0


def test_import_unknown_conference_is_404(admin_api):
    response = admin_api.post(_import_url("nope"), load("pretalx-democon.json"), format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_import_keeps_existing_speaker_matched_by_code():
    conference = ConferenceFactory()
    existing = SpeakerFactory(conference=conference, external_id="NQTF8Y", name="Old name")

    import_schedule(conference, load("pretalx-democon.json"))

    existing.refresh_from_db()
    assert existing.name == "Brian Robinson"
    assert Track.objects.filter(conference=conference).count() == 2


def test_command_imports_file_and_prints_counts():
    conference = ConferenceFactory()
    out = StringIO()

    call_command("import_schedule", conference.slug, str(DATA / "frab-camp2019.json"), stdout=out)

    assert out.getvalue().strip() == '{"created": 79, "updated": 0, "unchanged": 0, "removed": 0}'


def test_command_create_makes_conference_from_file():
    call_command(
        "import_schedule", "camp", str(DATA / "frab-camp2019.json"), "--create", stdout=StringIO(), stderr=StringIO()
    )

    conference = Conference.objects.get(slug="camp")
    assert conference.name == "Chaos Communication Camp 2019"
    assert conference.timezone == "Europe/Berlin"
    assert str(conference.starts_on) == "2019-08-21"
    assert str(conference.ends_on) == "2019-08-26"
    assert conference.sessions.count() == 79


def test_command_refuses_invalid_file_and_unknown_conference():
    conference = ConferenceFactory()

    with pytest.raises(CommandError, match=r"\$\.schedule\.rooms: this key is not allowed here"):
        call_command("import_schedule", conference.slug, str(DATA / "invalid-example.json"))
    with pytest.raises(CommandError, match="No conference 'nope'"):
        call_command("import_schedule", "nope", str(DATA / "pretalx-rc3.json"))


@pytest.fixture
def schedule_server():
    """The test data over HTTP on 127.0.0.1, as a pretalx instance would serve it."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(DATA)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_command_fetches_url(schedule_server):
    conference = ConferenceFactory()
    out = StringIO()

    call_command("import_schedule", conference.slug, f"{schedule_server}/pretalx-rc3.json", stdout=out)

    assert out.getvalue().strip() == '{"created": 48, "updated": 0, "unchanged": 0, "removed": 0}'


def test_command_reports_unreachable_url(schedule_server):
    conference = ConferenceFactory()

    with pytest.raises(CommandError, match="could not be fetched"):
        call_command("import_schedule", conference.slug, f"{schedule_server}/missing.json")
