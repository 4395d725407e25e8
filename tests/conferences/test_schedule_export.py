"""schedule.json and schedule.xml: validity against the shared schemas, the round trip, time zones, HTTP caching."""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from jsonschema import Draft6Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from lxml import etree
from structlog.testing import capture_logs

from conferences import frab
from conferences.documents import raise_head
from conferences.models import Conference, Session
from conferences.services import create_session, import_schedule
from tests.conferences.schedules import DATA, VALID, events_of, load
from tests.factories import ConferenceFactory, RoomFactory, SessionFactory, SpeakerFactory, TrackFactory

pytestmark = pytest.mark.django_db

SCHEMA = json.loads((DATA / "schema.json").read_text())
XSD = etree.XMLSchema(etree.parse(str(DATA / "schedule.xml.xsd")))


def _strict_validator() -> Draft6Validator:
    """
    schema.json with every keyword and every format it names checked (a
    draft-06 checker alone skips ``date``, ``uuid`` and ``color``), except
    the ``pattern`` of ``conference.acronym``, which holds IBW's slug.
    """
    schema = json.loads(json.dumps(SCHEMA))
    del schema["definitions"]["Conference"]["properties"]["acronym"]["pattern"]
    return Draft6Validator(schema, format_checker=FormatChecker())


def json_url(slug: str) -> str:
    return f"/api/v1/conferences/{slug}/schedule.json"


def xml_url(slug: str) -> str:
    return f"/api/v1/conferences/{slug}/schedule.xml"


def assert_valid_json(body: bytes) -> dict:
    document = json.loads(body)
    errors = [f"{e.json_path}: {e.message}" for e in _strict_validator().iter_errors(document)]
    assert errors == []
    return document


def assert_valid_xml(body: bytes) -> etree._Element:
    root = etree.fromstring(body)
    assert XSD.validate(root), XSD.error_log
    return root


def vary(response) -> list[str]:
    return [value.strip() for value in response["Vary"].split(",")]


def json_events(document: dict) -> list[dict]:
    return events_of(document)


def xml_events(root: etree._Element) -> list[etree._Element]:
    return root.findall("day/room/event")


# --- The validator itself checks what it says -------------------------------------------


@pytest.mark.parametrize(
    ("where", "bad"),
    [
        (("tracks", 0, "color"), "not-a-colour"),
        (("rooms", 0, "guid"), "not-a-uuid"),
        (("days", 0, "date"), "2026-13-45"),
        (("days", 0, "day_start"), "yesterday"),
    ],
)
def test_strict_validator_refuses_bad_formats(api, where, bad):
    """A control: if the format checks were off, the export tests below could not fail on formats."""
    conference = ConferenceFactory(slug="ctl")
    RoomFactory(conference=conference, name="Hall")
    TrackFactory(conference=conference, name="Main", color="#aabbcc")
    document = assert_valid_json(api.get(json_url("ctl")).content)
    target = document["schedule"]["conference"]
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = bad

    with pytest.raises(ValidationError):
        _strict_validator().validate(document)


def test_strict_validator_refuses_bad_event_url_and_person_in_both_forms(api):
    conference = ConferenceFactory(slug="ctl2")
    session = SessionFactory(conference=conference, room=RoomFactory(conference=conference))
    session.speakers.add(SpeakerFactory(conference=conference))
    document = assert_valid_json(api.get(json_url("ctl2")).content)
    event = json_events(document)[0]

    for key, value in (("url", "not a url"), ("persons", [{"name": "A", "id": 1, "public_name": "A"}])):
        broken = json.loads(json.dumps(document))
        json_events(broken)[0][key] = value
        with pytest.raises(ValidationError):
            _strict_validator().validate(broken)
    assert event["persons"][0]["name"] == session.speakers.get().name


# --- The three real schedules ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALID))
def test_real_schedule_exports_validate_and_agree(api, name):
    conference = ConferenceFactory(slug=f"real-{name.split('.')[0]}")
    import_schedule(conference, load(name))

    document = assert_valid_json(api.get(json_url(conference.slug)).content)
    root = assert_valid_xml(api.get(xml_url(conference.slug)).content)

    from_json = {
        e["id"]: (e["guid"], e["slug"], datetime.fromisoformat(e["date"]), e["duration"]) for e in json_events(document)
    }
    from_xml = {
        int(e.get("id")): (
            e.get("guid"),
            e.findtext("slug"),
            datetime.fromisoformat(e.findtext("date")),
            e.findtext("duration"),
        )
        for e in xml_events(root)
    }
    sessions = Session.objects.filter(conference=conference)
    assert len(from_json) == VALID[name]
    assert from_json == from_xml
    assert set(from_json) == set(sessions.values_list("pk", flat=True))
    imported_guids = {e["guid"] for e in events_of(load(name))}
    # Every imported guid is a UUID in these files, so each is kept as it is.
    assert {guid for guid, *_ in from_json.values()} == imported_guids
    for session in sessions:
        guid, _slug, starts_at, duration = from_json[session.pk]
        assert starts_at == session.starts_at
        minutes = int((session.ends_at - session.starts_at).total_seconds() // 60)
        assert duration == f"{minutes // 60}:{minutes % 60:02d}"


@pytest.mark.parametrize("name", sorted(VALID))
def test_export_imported_into_another_conference_reproduces_every_session(api, name):
    source = ConferenceFactory(slug="source", timezone="Europe/Berlin")
    import_schedule(source, load(name))
    exported = json.loads(api.get(json_url("source")).content)
    target = ConferenceFactory(slug="target", timezone="America/New_York")

    first = import_schedule(target, exported)
    version = Conference.objects.get(pk=target.pk).agenda_version
    again = import_schedule(target, json.loads(api.get(json_url("target")).content))

    assert first == {"created": VALID[name], "updated": 0, "unchanged": 0, "removed": 0}
    assert again == {"created": 0, "updated": 0, "unchanged": VALID[name], "removed": 0}
    assert Conference.objects.get(pk=target.pk).agenda_version == version

    def described(conference: Conference) -> dict:
        result = {}
        for session in Session.objects.filter(conference=conference).select_related("room", "track"):
            result[session.starts_at, session.title] = (
                session.abstract,
                session.description,
                session.ends_at,
                session.room.name if session.room else None,
                session.track.name if session.track else None,
                session.type,
                session.language,
                [s.name for s in session.speakers.order_by("sessionspeaker__position")],
            )
        return result

    assert described(target) == described(source)


# --- The shared definition of the format ---------------------------------------------------


def test_every_event_attribute_is_written_and_read():
    written = {spec.attr for spec in frab.EVENT_FIELDS if spec.attr}
    read = {spec.attr for spec in frab.EVENT_FIELDS if spec.attr and spec.read}
    attributes = {f.name for f in dataclasses.fields(frab.FrabEvent)}

    assert written == attributes
    assert read == attributes - frab.EXPORT_ONLY_ATTRS
    assert set(frab.SESSION_ATTRS) <= read


def test_event_keys_cover_what_both_schemas_require():
    required_json = set(SCHEMA["definitions"]["Event"]["required"])
    xsd = etree.parse(str(DATA / "schedule.xml.xsd"))
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    event_type = xsd.find("xs:complexType[@name='event']", ns)
    required_xml = {
        el.get("name") for el in event_type.findall("xs:all/xs:element", ns) if el.get("minOccurs", "1") != "0"
    }

    assert required_json <= {spec.key for spec in frab.EVENT_FIELDS}
    assert required_xml <= {spec.xml for spec in frab.EVENT_FIELDS}


# --- Time zones, no room, no sessions ----------------------------------------------------------


def test_utc_schedule_in_berlin_then_new_york_keeps_every_instant(api):
    berlin = ConferenceFactory(
        slug="berlin", timezone="Europe/Berlin", starts_on=date(2020, 12, 14), ends_on=date(2020, 12, 16)
    )
    import_schedule(berlin, load("pretalx-democon.json"))  # time_zone_name UTC
    instants = sorted(Session.objects.filter(conference=berlin).values_list("guid", "starts_at", "ends_at"))
    late = create_session(
        berlin,
        title="Late night",
        starts_at=datetime(2020, 12, 14, 23, 30, tzinfo=UTC),  # 00:30 on the 15th in Berlin
        ends_at=datetime(2020, 12, 15, 0, 15, tzinfo=UTC),
        room=berlin.rooms.first(),
    )

    document = assert_valid_json(api.get(json_url("berlin")).content)
    root = assert_valid_xml(api.get(xml_url("berlin")).content)
    conference = document["schedule"]["conference"]
    late_event = next(e for e in json_events(document) if e["id"] == late.pk)
    late_day = next(d for d in conference["days"] if late_event in [e for es in d["rooms"].values() for e in es])

    assert conference["time_zone_name"] == "Europe/Berlin"
    assert late_event["date"] == "2020-12-15T00:30:00+01:00"
    assert late_event["start"] == "00:30"
    assert late_event["duration"] == "0:45"
    assert late_day["date"] == "2020-12-15"
    assert late_day["day_start"] == "2020-12-15T00:00:00+01:00"
    assert all(e["date"].endswith("+01:00") for e in json_events(document))
    assert all(e.findtext("date").endswith("+01:00") for e in xml_events(root))

    new_york = ConferenceFactory(
        slug="new-york", timezone="America/New_York", starts_on=date(2020, 12, 14), ends_on=date(2020, 12, 16)
    )
    import_schedule(new_york, document)
    late_in_ny = Session.objects.get(conference=new_york, title="Late night")
    moved = sorted(
        Session.objects.filter(conference=new_york)
        .exclude(pk=late_in_ny.pk)
        .values_list("guid", "starts_at", "ends_at")
    )
    assert moved == instants
    assert (late_in_ny.starts_at, late_in_ny.ends_at) == (late.starts_at, late.ends_at)
    ny_event = next(
        e for e in json_events(json.loads(api.get(json_url("new-york")).content)) if e["title"] == "Late night"
    )
    assert ny_event["date"] == "2020-12-14T18:30:00-05:00"


def test_session_without_room_sits_in_the_room_with_no_name(api):
    conference = ConferenceFactory(
        slug="roomless", timezone="UTC", starts_on=date(2026, 5, 1), ends_on=date(2026, 5, 1)
    )
    session = SessionFactory(
        conference=conference,
        room=None,
        starts_at=datetime(2026, 5, 1, 10, tzinfo=UTC),
        ends_at=datetime(2026, 5, 1, 11, tzinfo=UTC),
    )

    document = assert_valid_json(api.get(json_url("roomless")).content)
    root = assert_valid_xml(api.get(xml_url("roomless")).content)
    other = ConferenceFactory(slug="roomless-copy")
    import_schedule(other, document)

    day = document["schedule"]["conference"]["days"][0]
    assert list(day["rooms"]) == [""]
    assert day["rooms"][""][0]["room"] == ""
    assert day["rooms"][""][0]["id"] == session.pk
    assert document["schedule"]["conference"]["rooms"] == []
    assert [room.get("name") for room in root.findall("day/room")] == [""]
    assert root.find("day/room/event/room").text is None
    copy = Session.objects.get(conference=other)
    assert copy.room is None
    assert other.rooms.count() == 0


def test_conference_without_sessions_has_its_days_and_no_events(api):
    ConferenceFactory(slug="empty", timezone="Europe/Berlin", starts_on=date(2026, 6, 1), ends_on=date(2026, 6, 3))

    document = assert_valid_json(api.get(json_url("empty")).content)
    root = assert_valid_xml(api.get(xml_url("empty")).content)

    days = document["schedule"]["conference"]["days"]
    assert [(d["index"], d["date"], d["rooms"]) for d in days] == [
        (1, "2026-06-01", {}),
        (2, "2026-06-02", {}),
        (3, "2026-06-03", {}),
    ]
    assert days[0]["day_start"] == "2026-06-01T00:00:00+02:00"
    assert [(d.get("index"), d.get("date"), len(d)) for d in root.findall("day")] == [
        ("1", "2026-06-01", 0),
        ("2", "2026-06-02", 0),
        ("3", "2026-06-03", 0),
    ]
    assert root.findtext("conference/days") == "3"


def test_xml_escapes_markup_and_drops_characters_xml_cannot_hold(api):
    conference = ConferenceFactory(slug="escape")
    SessionFactory(
        conference=conference,
        room=RoomFactory(conference=conference, name='A & "B" <hall>'),
        title="Tom & Jerry <live>\x0b",
        abstract="]]> and \x01 control",
    )

    root = assert_valid_xml(api.get(xml_url("escape")).content)
    document = assert_valid_json(api.get(json_url("escape")).content)

    event = xml_events(root)[0]
    assert event.findtext("title") == "Tom & Jerry <live>"
    assert event.findtext("abstract") == "]]> and  control"
    assert root.find("day/room").get("name") == 'A & "B" <hall>'
    assert json_events(document)[0]["title"] == "Tom & Jerry <live>\x0b"


# --- HTTP: tags, 304, gzip, HEAD, 404, no SQL -------------------------------------------------


@pytest.fixture
def agenda(db):
    conference = ConferenceFactory(slug="http")
    room = RoomFactory(conference=conference)
    for _ in range(3):
        SessionFactory(conference=conference, room=room)
    return conference


@pytest.mark.parametrize("url", [json_url("http"), xml_url("http")])
def test_document_headers_and_304(api, agenda, url):
    first = api.get(url)
    etag = first["ETag"]

    again = api.get(url, HTTP_IF_NONE_MATCH=etag)

    assert first.status_code == 200
    assert etag == f'"{agenda.pk}-{Conference.objects.get(pk=agenda.pk).agenda_version}"'
    assert first["Cache-Control"] == "public, no-cache"
    assert "Accept-Encoding" in vary(first)
    assert "Content-Encoding" not in first
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert again["Cache-Control"] == "public, no-cache"
    assert api.get(url, HTTP_IF_NONE_MATCH='"0-0"').status_code == 200


def test_gzip_when_accepted(api, agenda):
    plain = api.get(json_url("http"))
    zipped = api.get(json_url("http"), HTTP_ACCEPT_ENCODING="br, gzip;q=0.8")
    refused = api.get(json_url("http"), HTTP_ACCEPT_ENCODING="gzip;q=0, identity")

    assert zipped.status_code == 200
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in vary(zipped)
    assert zipped["Content-Type"] == "application/json"
    assert gzip.decompress(zipped.content) == plain.content
    assert len(zipped.content) < len(plain.content)
    assert zipped["ETag"] == plain["ETag"][:-1] + '-gzip"'
    assert "Content-Encoding" not in refused
    assert refused.content == plain.content
    not_modified = api.get(json_url("http"), HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=zipped["ETag"])
    assert not_modified.status_code == 304
    assert not_modified.content == b""


def test_head_has_the_headers_and_no_body(api, agenda):
    get = api.get(xml_url("http"), HTTP_ACCEPT_ENCODING="gzip")
    head = api.head(xml_url("http"), HTTP_ACCEPT_ENCODING="gzip")

    assert head.status_code == 200
    assert head.content == b""
    assert head["Content-Length"] == str(len(get.content))
    for header in ("ETag", "Cache-Control", "Vary", "Content-Encoding", "Content-Type"):
        assert head[header] == get[header]


@pytest.mark.parametrize("url", [json_url("nope"), xml_url("nope")])
def test_unknown_conference_is_404_with_the_error_body(api, url):
    response = api.get(url)

    assert response.status_code == 404
    assert response.json() == {"error": "No such conference.", "code": "NOT_FOUND"}


def test_cached_request_runs_no_sql(api, agenda, django_assert_num_queries):
    api.get(json_url("http"), HTTP_ACCEPT_ENCODING="gzip")
    etag = api.get(json_url("http"))["ETag"]

    with django_assert_num_queries(0):
        full = api.get(json_url("http"), HTTP_ACCEPT_ENCODING="gzip")
        plain = api.get(json_url("http"))
        not_modified = api.get(json_url("http"), HTTP_IF_NONE_MATCH=etag)
        xml = api.get(xml_url("http"))

    assert (full.status_code, plain.status_code, not_modified.status_code, xml.status_code) == (200, 200, 304, 200)
    assert len(json_events(json.loads(plain.content))) == 3


def test_document_in_the_store_is_built_once_per_version(api, agenda):
    with capture_logs() as logs:
        for _ in range(5):
            api.get(json_url("http"))
            api.get(xml_url("http"), HTTP_ACCEPT_ENCODING="gzip")

    assert [entry["event"] for entry in logs if entry["event"] == "schedule_documents_built"] == [
        "schedule_documents_built"
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_after_a_change_build_once(api):
    """Many requests find the stored document stale at once: one builds, the others wait or get the previous one."""
    conference = ConferenceFactory(slug="burst")
    room = RoomFactory(conference=conference)
    for _ in range(20):
        SessionFactory(conference=conference, room=room)
    create_session(
        conference,
        title="One more",
        starts_at=datetime(2030, 1, 1, tzinfo=UTC),
        ends_at=datetime(2030, 1, 1, 1, tzinfo=UTC),
    )  # commits: head raised, and the (eager) task has built it
    previous = api.get(json_url("burst"))["ETag"]
    Conference.objects.filter(pk=conference.pk).update(agenda_version=99)  # a version nobody built yet
    raise_head("burst", 99)
    barrier = threading.Barrier(8)
    tags: list[str] = []

    def fetch() -> None:
        from rest_framework.test import APIClient

        barrier.wait()
        tags.append(APIClient().get(json_url("burst"))["ETag"])
        connection.close()

    with capture_logs() as logs:
        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    builds = [entry for entry in logs if entry["event"] == "schedule_documents_built"]
    assert len(builds) == 1
    assert builds[0]["version"] == 99
    assert len(tags) == 8
    assert set(tags) <= {previous, f'"{conference.pk}-99"'}
    assert f'"{conference.pk}-99"' in tags
    assert api.get(json_url("burst"))["ETag"] == f'"{conference.pk}-99"'


def test_sessions_far_from_the_conference_dates_add_their_own_day(api):
    conference = ConferenceFactory(slug="far", timezone="UTC", starts_on=date(2026, 5, 1), ends_on=date(2026, 5, 2))
    SessionFactory(
        conference=conference,
        room=RoomFactory(conference=conference),
        starts_at=datetime(2026, 5, 10, 9, tzinfo=UTC),
        ends_at=datetime(2026, 5, 10, 9, tzinfo=UTC) + timedelta(minutes=20),
    )

    document = assert_valid_json(api.get(json_url("far")).content)

    conference_json = document["schedule"]["conference"]
    assert [d["date"] for d in conference_json["days"]] == ["2026-05-01", "2026-05-02", "2026-05-10"]
    assert (conference_json["start"], conference_json["end"], conference_json["daysCount"]) == (
        "2026-05-01",
        "2026-05-10",
        3,
    )


def test_store_unreachable_still_serves_the_document_from_the_database(api, agenda, settings):
    from conferences import documents

    expected = api.get(json_url("http")).content
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    documents._redis.cache_clear()
    try:
        response = api.get(json_url("http"))
    finally:
        documents._redis.cache_clear()

    assert response.status_code == 200
    assert response.content == expected


def test_openapi_schema_documents_both_documents_and_their_304(api):
    paths = api.get("/api/schema/?format=json").json()["paths"]

    json_get = paths["/api/v1/conferences/{slug}/schedule.json"]["get"]
    xml_get = paths["/api/v1/conferences/{slug}/schedule.xml"]["get"]
    assert set(json_get["responses"]["200"]["content"]) == {"application/json"}
    assert set(xml_get["responses"]["200"]["content"]) == {"application/xml"}
    for operation in (json_get, xml_get):
        assert "content" not in operation["responses"]["304"]
        assert {"ETag", "Cache-Control", "Vary"} <= set(operation["responses"]["304"]["headers"])
        assert "Content-Encoding" in operation["responses"]["200"]["headers"]
        assert {p["name"] for p in operation["parameters"] if p["in"] == "header"} == {
            "If-None-Match",
            "Accept-Encoding",
        }
        assert operation["security"] == [{}]


def test_zone_name_the_schema_refuses_is_left_out_and_offsets_remain(api):
    conference = ConferenceFactory(
        slug="etc", timezone="Etc/GMT+5", starts_on=date(2026, 5, 1), ends_on=date(2026, 5, 1)
    )
    SessionFactory(
        conference=conference,
        room=RoomFactory(conference=conference),
        starts_at=datetime(2026, 5, 1, 15, tzinfo=UTC),
        ends_at=datetime(2026, 5, 1, 16, tzinfo=UTC),
    )

    document = assert_valid_json(api.get(json_url("etc")).content)

    assert "time_zone_name" not in document["schedule"]["conference"]
    assert json_events(document)[0]["date"] == "2026-05-01T10:00:00-05:00"
