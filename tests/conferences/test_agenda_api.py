from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conferences import services
from conferences.models import Bookmark, Conference, Session, SessionSpeaker
from tests.conftest import client_for
from tests.factories import (
    ConferenceFactory,
    RoomFactory,
    SessionFactory,
    SpeakerFactory,
    TrackFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def _sessions_url(conference: Conference, query: str = "") -> str:
    return f"/api/v1/conferences/{conference.slug}/sessions/{query}"


def _agenda(conference: Conference, count: int, *, speakers_each: int = 2) -> list[Session]:
    room = RoomFactory(conference=conference)
    track = TrackFactory(conference=conference)
    start = datetime(2030, 5, 1, 9, tzinfo=BERLIN)
    sessions = []
    for i in range(count):
        session = SessionFactory(
            conference=conference,
            room=room,
            track=track,
            starts_at=start + timedelta(hours=i),
            ends_at=start + timedelta(hours=i, minutes=45),
        )
        for position in range(speakers_each):
            speaker = SpeakerFactory(conference=conference)
            SessionSpeaker.objects.create(session=session, speaker=speaker, position=position)
        sessions.append(session)
    return sessions


# --- Conferences ------------------------------------------------------------------


def test_conference_list_and_detail_are_public(api):
    conference = ConferenceFactory(slug="ibw-2030", name="IBW 2030", venue="Halic", timezone="Europe/Istanbul")

    listed = api.get("/api/v1/conferences/")
    detail = api.get("/api/v1/conferences/ibw-2030/")

    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    expected = {
        "slug": "ibw-2030",
        "name": "IBW 2030",
        "description": "",
        "venue": "Halic",
        "timezone": "Europe/Istanbul",
        "starts_on": conference.starts_on.isoformat(),
        "ends_on": conference.ends_on.isoformat(),
    }
    assert listed.json()["results"] == [expected]
    assert detail.json() == expected


def test_conference_create_by_admin(admin_api):
    body = {
        "slug": "devcon",
        "name": "Devcon",
        "description": "Builders",
        "venue": "Lutfi Kirdar",
        "timezone": "Europe/Istanbul",
        "starts_on": "2030-11-13",
        "ends_on": "2030-11-16",
    }

    response = admin_api.post("/api/v1/conferences/", body, format="json")

    assert response.status_code == 201
    assert response.json() == {**body, "schedule_url": ""}  # admins see the admin-only field
    assert Conference.objects.get(slug="devcon").venue == "Lutfi Kirdar"


def test_conference_create_validates(admin_api):
    response = admin_api.post(
        "/api/v1/conferences/",
        {"slug": "x", "name": "X", "timezone": "Mars/Base", "starts_on": "2030-01-02", "ends_on": "2030-01-01"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert set(response.json()["details"]) == {"timezone"}


def test_conference_create_refuses_end_before_start(admin_api):
    response = admin_api.post(
        "/api/v1/conferences/",
        {"slug": "x", "name": "X", "timezone": "UTC", "starts_on": "2030-01-02", "ends_on": "2030-01-01"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["details"] == {"ends_on": ["The conference cannot end before it starts."]}


def test_conference_create_needs_admin(api, user_api):
    body = {"slug": "x", "name": "X", "timezone": "UTC", "starts_on": "2030-01-01", "ends_on": "2030-01-01"}

    assert api.post("/api/v1/conferences/", body, format="json").status_code == 401
    assert user_api.post("/api/v1/conferences/", body, format="json").status_code == 403


def test_conference_patch_by_admin_keeps_slug(admin_api):
    ConferenceFactory(slug="ibw")

    response = admin_api.patch("/api/v1/conferences/ibw/", {"venue": "Galata", "slug": "other"}, format="json")

    assert response.status_code == 200
    assert response.json()["venue"] == "Galata"
    assert response.json()["slug"] == "ibw"


def test_conference_patch_by_user_is_403(user_api):
    ConferenceFactory(slug="ibw")

    assert user_api.patch("/api/v1/conferences/ibw/", {"venue": "Galata"}, format="json").status_code == 403


def test_unknown_conference_is_404(api):
    response = api.get("/api/v1/conferences/nope/sessions/")

    assert response.status_code == 404
    assert response.json() == {"error": "No such conference.", "code": "NOT_FOUND"}


# --- Agenda list -------------------------------------------------------------------------


def test_session_list_shows_contract_fields(api):
    conference = ConferenceFactory()
    room = RoomFactory(conference=conference, name="Main Stage")
    track = TrackFactory(conference=conference, name="Research")
    session = SessionFactory(
        conference=conference,
        room=room,
        track=track,
        title="Rollups",
        abstract="Short.",
        starts_at=datetime(2030, 5, 1, 9, tzinfo=BERLIN),
        ends_at=datetime(2030, 5, 1, 9, 30, tzinfo=BERLIN),
    )
    ada = SpeakerFactory(conference=conference, name="Ada")
    alan = SpeakerFactory(conference=conference, name="Alan")
    SessionSpeaker.objects.create(session=session, speaker=alan, position=0)
    SessionSpeaker.objects.create(session=session, speaker=ada, position=1)

    response = api.get(_sessions_url(conference))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    item = body["results"][0]
    assert item["id"] == session.pk
    assert item["title"] == "Rollups"
    assert item["abstract"] == "Short."
    assert item["starts_at"] == "2030-05-01T07:00:00Z"
    assert item["ends_at"] == "2030-05-01T07:30:00Z"
    assert item["room"] == {"id": room.pk, "name": "Main Stage"}
    assert item["track"] == {"id": track.pk, "name": "Research"}
    assert [s["name"] for s in item["speakers"]] == ["Alan", "Ada"]
    assert item["speakers"][0] == {"id": alan.pk, "name": "Alan", "avatar_url": "", "user": None}
    assert item["bookmarked"] is False


def test_session_list_is_ordered_by_start(api):
    conference = ConferenceFactory()
    late = SessionFactory(conference=conference, starts_at=datetime(2030, 5, 1, 15, tzinfo=BERLIN))
    early = SessionFactory(conference=conference, starts_at=datetime(2030, 5, 1, 9, tzinfo=BERLIN))

    ids = [s["id"] for s in api.get(_sessions_url(conference)).json()["results"]]

    assert ids == [early.pk, late.pk]


def test_session_list_track_null(api):
    conference = ConferenceFactory()
    SessionFactory(conference=conference, track=None)

    assert api.get(_sessions_url(conference)).json()["results"][0]["track"] is None


def test_session_list_filters_by_day_in_conference_timezone(api):
    conference = ConferenceFactory(timezone="Europe/Berlin")
    # 23:30 Berlin on May 1st is 21:30 UTC: still May 1st for the conference.
    late_first = SessionFactory(conference=conference, starts_at=datetime(2030, 5, 1, 23, 30, tzinfo=BERLIN))
    # 00:30 Berlin on May 2nd is 22:30 UTC on May 1st: May 2nd for the conference.
    early_second = SessionFactory(conference=conference, starts_at=datetime(2030, 5, 2, 0, 30, tzinfo=BERLIN))

    first = api.get(_sessions_url(conference, "?day=2030-05-01")).json()["results"]
    second = api.get(_sessions_url(conference, "?day=2030-05-02")).json()["results"]

    assert [s["id"] for s in first] == [late_first.pk]
    assert [s["id"] for s in second] == [early_second.pk]


def test_session_list_bad_day_is_400(api):
    conference = ConferenceFactory()

    response = api.get(_sessions_url(conference, "?day=May-1"))

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == {"day": ["Use the form YYYY-MM-DD."]}


def test_session_list_filters_by_track_and_room(api):
    conference = ConferenceFactory()
    stage, workshop = RoomFactory(conference=conference, name="Stage"), RoomFactory(conference=conference, name="Lab")
    research = TrackFactory(conference=conference, name="Research")
    a = SessionFactory(conference=conference, room=stage, track=research)
    b = SessionFactory(conference=conference, room=workshop, track=research)
    SessionFactory(conference=conference, room=workshop, track=None)

    by_track = api.get(_sessions_url(conference, f"?track={research.pk}")).json()["results"]
    by_room = api.get(_sessions_url(conference, f"?room={stage.pk}")).json()["results"]
    by_room_name = api.get(_sessions_url(conference, "?room=lab&track=Research")).json()["results"]

    assert {s["id"] for s in by_track} == {a.pk, b.pk}
    assert [s["id"] for s in by_room] == [a.pk]
    assert [s["id"] for s in by_room_name] == [b.pk]


def test_session_list_text_search_over_title_abstract_and_speakers(api):
    conference = ConferenceFactory()
    by_title = SessionFactory(conference=conference, title="Zero-knowledge proofs")
    by_abstract = SessionFactory(conference=conference, title="Other", abstract="We discuss ZERO-knowledge systems")
    by_speaker = SessionFactory(conference=conference, title="Keynote")
    SessionSpeaker.objects.create(session=by_speaker, speaker=SpeakerFactory(conference=conference, name="Zero Cool"))
    SessionFactory(conference=conference, title="Unrelated")

    ids = {s["id"] for s in api.get(_sessions_url(conference, "?q=zero")).json()["results"]}

    assert ids == {by_title.pk, by_abstract.pk, by_speaker.pk}


def test_session_list_shows_only_this_conference(api):
    conference = ConferenceFactory()
    SessionFactory(conference=ConferenceFactory())

    assert api.get(_sessions_url(conference)).json()["count"] == 0


def test_session_list_bookmarked_per_caller(user, user_api):
    conference = ConferenceFactory()
    mine, other = SessionFactory(conference=conference), SessionFactory(conference=conference)
    Bookmark.objects.create(user=user, session=mine)
    Bookmark.objects.create(user=UserFactory(), session=other)

    results = user_api.get(_sessions_url(conference)).json()["results"]

    assert {s["id"]: s["bookmarked"] for s in results} == {mine.pk: True, other.pk: False}


@pytest.mark.parametrize("count", [1, 5])
def test_session_list_query_count_is_constant_anonymous(api, count, django_assert_max_num_queries):
    conference = ConferenceFactory()
    _agenda(conference, count)

    # conference with its fingerprint, count, sessions, speakers
    with django_assert_max_num_queries(4):
        response = api.get(_sessions_url(conference, "?page_size=100"))

    assert len(response.json()["results"]) == count


@pytest.mark.parametrize("count", [1, 5])
def test_session_list_query_count_is_constant_with_bookmarks(user, user_api, count, django_assert_max_num_queries):
    conference = ConferenceFactory()
    for session in _agenda(conference, count):
        Bookmark.objects.create(user=user, session=session)

    # user, conference with its fingerprint, the caller's bookmarks, count, sessions, speakers
    with django_assert_max_num_queries(6):
        response = user_api.get(_sessions_url(conference, "?page_size=100&q=Talk"))

    assert [s["bookmarked"] for s in response.json()["results"]] == [True] * count


def test_session_list_paginates(api):
    conference = ConferenceFactory()
    _agenda(conference, 5, speakers_each=0)

    body = api.get(_sessions_url(conference, "?page_size=2")).json()

    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"].endswith("page=2&page_size=2")
    assert body["previous"] is None


# --- ETag ----------------------------------------------------------------------------------


def test_session_list_etag_gives_304_until_agenda_changes(api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference)
    first = api.get(_sessions_url(conference))
    etag = first["ETag"]

    again = api.get(_sessions_url(conference), HTTP_IF_NONE_MATCH=etag)
    services.update_session(session, title="Renamed")
    after_change = api.get(_sessions_url(conference), HTTP_IF_NONE_MATCH=etag)

    assert first.status_code == 200
    assert etag.startswith('"') and etag.endswith('"')
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert after_change.status_code == 200
    assert after_change["ETag"] != etag
    assert after_change.json()["results"][0]["title"] == "Renamed"


def test_session_list_etag_changes_with_speaker_and_room_renames(api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference)
    speaker = SpeakerFactory(conference=conference)
    SessionSpeaker.objects.create(session=session, speaker=speaker)
    etag = api.get(_sessions_url(conference))["ETag"]

    services.update_speaker(speaker, name="New name")
    after_speaker = api.get(_sessions_url(conference), HTTP_IF_NONE_MATCH=etag)
    services.update_room(session.room, name="New room")
    after_room = api.get(_sessions_url(conference), HTTP_IF_NONE_MATCH=after_speaker["ETag"])

    assert after_speaker.status_code == 200
    assert after_room.status_code == 200


def test_session_list_etag_changes_when_a_session_is_deleted(api):
    conference = ConferenceFactory()
    first, _ = SessionFactory(conference=conference), SessionFactory(conference=conference)
    etag = api.get(_sessions_url(conference))["ETag"]

    services.delete_session(first)

    assert api.get(_sessions_url(conference), HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_session_list_etag_differs_by_query_and_accepts_weak_and_lists(api):
    conference = ConferenceFactory()
    SessionFactory(conference=conference)
    plain = api.get(_sessions_url(conference))["ETag"]
    filtered = api.get(_sessions_url(conference, "?q=x"))["ETag"]

    weak = api.get(_sessions_url(conference), HTTP_IF_NONE_MATCH=f'"other", W/{plain}')

    assert plain != filtered
    assert weak.status_code == 304


def test_session_list_etag_follows_the_callers_bookmarks(user, user_api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference)
    etag = user_api.get(_sessions_url(conference))["ETag"]
    assert user_api.get(_sessions_url(conference), HTTP_IF_NONE_MATCH=etag).status_code == 304

    user_api.post(f"/api/v1/conferences/{conference.slug}/sessions/{session.pk}/bookmark/")
    after = user_api.get(_sessions_url(conference), HTTP_IF_NONE_MATCH=etag)

    assert after.status_code == 200
    assert after.json()["results"][0]["bookmarked"] is True
    assert after["Cache-Control"] == "private, no-cache"


def test_session_list_etag_follows_bookmarks_not_identity(user, user_api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference)
    same_bookmarks, other_bookmarks = UserFactory(), UserFactory()
    Bookmark.objects.create(user=other_bookmarks, session=session)
    etag = user_api.get(_sessions_url(conference))["ETag"]

    # Same body (no bookmarks), same representation: a 304 is right.
    assert client_for(same_bookmarks).get(_sessions_url(conference), HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert client_for(other_bookmarks).get(_sessions_url(conference), HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_session_list_304_costs_one_query_anonymous(api, django_assert_max_num_queries):
    conference = ConferenceFactory()
    _agenda(conference, 5)
    etag = api.get(_sessions_url(conference))["ETag"]

    with django_assert_max_num_queries(1):
        response = api.get(_sessions_url(conference), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304


# --- Session detail and writes ------------------------------------------------------------------


def test_session_detail(api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference, title="Talk A")

    response = api.get(f"/api/v1/conferences/{conference.slug}/sessions/{session.pk}/")

    assert response.status_code == 200
    assert response.json()["title"] == "Talk A"
    assert response.json()["bookmarked"] is False


def test_session_detail_of_other_conference_is_404(api):
    conference = ConferenceFactory()
    other = SessionFactory(conference=ConferenceFactory())

    response = api.get(f"/api/v1/conferences/{conference.slug}/sessions/{other.pk}/")

    assert response.status_code == 404


def test_session_create_by_admin(admin_api):
    conference = ConferenceFactory()
    room = RoomFactory(conference=conference)
    speaker = SpeakerFactory(conference=conference)

    response = admin_api.post(
        f"/api/v1/conferences/{conference.slug}/sessions/",
        {
            "title": "Lightning talks",
            "starts_at": "2030-05-01T10:00:00+02:00",
            "ends_at": "2030-05-01T11:00:00+02:00",
            "room": room.pk,
            "speakers": [speaker.pk],
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "Lightning talks"
    assert body["starts_at"] == "2030-05-01T08:00:00Z"
    assert body["room"] == {"id": room.pk, "name": room.name}
    assert [s["id"] for s in body["speakers"]] == [speaker.pk]
    assert len(Session.objects.get(pk=body["id"]).guid) == 36


def test_session_create_refuses_room_of_other_conference(admin_api):
    conference = ConferenceFactory()
    foreign = RoomFactory()

    response = admin_api.post(
        f"/api/v1/conferences/{conference.slug}/sessions/",
        {"title": "X", "starts_at": "2030-05-01T10:00:00Z", "ends_at": "2030-05-01T11:00:00Z", "room": foreign.pk},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["details"] == {"room": ["No such room in this conference."]}


def test_session_create_refuses_end_before_start(admin_api):
    conference = ConferenceFactory()

    response = admin_api.post(
        f"/api/v1/conferences/{conference.slug}/sessions/",
        {"title": "X", "starts_at": "2030-05-01T10:00:00Z", "ends_at": "2030-05-01T09:00:00Z"},
        format="json",
    )

    assert response.status_code == 400
    assert "ends_at" in response.json()["details"]


def test_session_create_needs_admin(user_api, api):
    conference = ConferenceFactory()
    body = {"title": "X", "starts_at": "2030-05-01T10:00:00Z", "ends_at": "2030-05-01T11:00:00Z"}
    url = f"/api/v1/conferences/{conference.slug}/sessions/"

    assert user_api.post(url, body, format="json").status_code == 403
    assert api.post(url, body, format="json").status_code == 401


def test_session_patch_and_delete_by_admin(admin_api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference)
    url = f"/api/v1/conferences/{conference.slug}/sessions/{session.pk}/"

    patched = admin_api.patch(url, {"title": "New title"}, format="json")
    deleted = admin_api.delete(url)

    assert patched.status_code == 200
    assert patched.json()["title"] == "New title"
    assert deleted.status_code == 204
    assert not Session.objects.filter(pk=session.pk).exists()


# --- Bookmarks and my agenda --------------------------------------------------------------------


def test_bookmark_is_idempotent(user, user_api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference)
    url = f"/api/v1/conferences/{conference.slug}/sessions/{session.pk}/bookmark/"

    first = user_api.post(url)
    second = user_api.post(url)
    removed = user_api.delete(url)
    removed_again = user_api.delete(url)

    assert first.status_code == 201
    assert first.json()["bookmarked"] is True
    assert second.status_code == 200
    assert removed.status_code == 204
    assert removed_again.status_code == 204
    assert Bookmark.objects.count() == 0


def test_bookmark_needs_login(api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference)

    response = api.post(f"/api/v1/conferences/{conference.slug}/sessions/{session.pk}/bookmark/")

    assert response.status_code == 401


def test_bookmark_of_unknown_session_is_404(user_api):
    conference = ConferenceFactory()

    assert user_api.post(f"/api/v1/conferences/{conference.slug}/sessions/999999/bookmark/").status_code == 404


def test_my_agenda_lists_bookmarks_with_conflicts(user, user_api):
    conference = ConferenceFactory()
    nine = datetime(2030, 5, 1, 9, tzinfo=BERLIN)
    a = SessionFactory(conference=conference, starts_at=nine, ends_at=nine + timedelta(minutes=60))
    b = SessionFactory(
        conference=conference, starts_at=nine + timedelta(minutes=30), ends_at=nine + timedelta(minutes=90)
    )
    # Starts exactly when b ends: back to back is not a conflict.
    c = SessionFactory(
        conference=conference, starts_at=nine + timedelta(minutes=90), ends_at=nine + timedelta(minutes=120)
    )
    SessionFactory(conference=conference, starts_at=nine, ends_at=nine + timedelta(minutes=60))  # not bookmarked
    for session in (c, a, b):
        Bookmark.objects.create(user=user, session=session)

    response = user_api.get(f"/api/v1/conferences/{conference.slug}/my-agenda/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results"}
    assert [(s["id"], s["conflicts_with"], s["bookmarked"]) for s in body["results"]] == [
        (a.pk, [b.pk], True),
        (b.pk, [a.pk], True),
        (c.pk, [], True),
    ]


def test_my_agenda_needs_login(api):
    conference = ConferenceFactory()

    assert api.get(f"/api/v1/conferences/{conference.slug}/my-agenda/").status_code == 401


@pytest.mark.parametrize("count", [1, 5])
def test_my_agenda_query_count_is_constant(user, user_api, count, django_assert_max_num_queries):
    conference = ConferenceFactory()
    for session in _agenda(conference, count):
        Bookmark.objects.create(user=user, session=session)

    with django_assert_max_num_queries(4):
        response = user_api.get(f"/api/v1/conferences/{conference.slug}/my-agenda/")

    assert len(response.json()["results"]) == count


# --- Speakers, rooms, tracks -------------------------------------------------------------------------


def test_speaker_list_and_detail_with_sessions(api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference, title="Keynote")
    ada = SpeakerFactory(conference=conference, name="Ada", bio="Math.")
    SpeakerFactory(conference=conference, name="Bob")
    SessionSpeaker.objects.create(session=session, speaker=ada)

    listed = api.get(f"/api/v1/conferences/{conference.slug}/speakers/")
    searched = api.get(f"/api/v1/conferences/{conference.slug}/speakers/?q=ad")
    detail = api.get(f"/api/v1/conferences/{conference.slug}/speakers/{ada.pk}/")

    assert [s["name"] for s in listed.json()["results"]] == ["Ada", "Bob"]
    assert [s["name"] for s in searched.json()["results"]] == ["Ada"]
    assert detail.status_code == 200
    assert detail.json()["bio"] == "Math."
    assert [(s["id"], s["title"]) for s in detail.json()["sessions"]] == [(session.pk, "Keynote")]
    assert detail.json()["sessions"][0]["room"] == {"id": session.room.pk, "name": session.room.name}


def test_speaker_of_other_conference_is_404(api):
    conference = ConferenceFactory()
    other = SpeakerFactory()

    assert api.get(f"/api/v1/conferences/{conference.slug}/speakers/{other.pk}/").status_code == 404


@pytest.mark.parametrize("count", [1, 5])
def test_speaker_list_query_count_is_constant(api, count, django_assert_max_num_queries):
    conference = ConferenceFactory()
    _agenda(conference, count, speakers_each=1)

    with django_assert_max_num_queries(3):
        response = api.get(f"/api/v1/conferences/{conference.slug}/speakers/")

    assert response.json()["count"] == count


def test_rooms_and_tracks_lists(api):
    conference = ConferenceFactory()
    room = RoomFactory(conference=conference, name="Main")
    track = TrackFactory(conference=conference, name="Research", color="#ff0000")

    rooms = api.get(f"/api/v1/conferences/{conference.slug}/rooms/").json()
    tracks = api.get(f"/api/v1/conferences/{conference.slug}/tracks/").json()

    assert rooms == {"results": [{"id": room.pk, "name": "Main"}]}
    assert tracks == {"results": [{"id": track.pk, "name": "Research", "color": "#ff0000"}]}


def test_agenda_day_bounds_cover_dst_change(api):
    # The last Sunday of October 2030 is 25 hours long in Berlin.
    conference = ConferenceFactory(timezone="Europe/Berlin")
    late = SessionFactory(conference=conference, starts_at=datetime(2030, 10, 27, 23, 59, tzinfo=BERLIN))

    results = api.get(_sessions_url(conference, f"?day={date(2030, 10, 27).isoformat()}")).json()["results"]

    assert [s["id"] for s in results] == [late.pk]


def test_session_list_cached_page_keeps_each_callers_bookmarks(user, user_api, api, django_assert_max_num_queries):
    conference = ConferenceFactory()
    mine, other = SessionFactory(conference=conference), SessionFactory(conference=conference)
    Bookmark.objects.create(user=user, session=mine)
    someone = UserFactory()
    Bookmark.objects.create(user=someone, session=other)
    anonymous = api.get(_sessions_url(conference)).json()

    with django_assert_max_num_queries(3):  # user, conference with fingerprint, bookmarks: the page is cached
        as_me = user_api.get(_sessions_url(conference)).json()
    as_someone = client_for(someone).get(_sessions_url(conference)).json()

    def flags(body):
        return {s["id"]: s["bookmarked"] for s in body["results"]}

    assert flags(anonymous) == {mine.pk: False, other.pk: False}
    assert flags(as_me) == {mine.pk: True, other.pk: False}
    assert flags(as_someone) == {mine.pk: False, other.pk: True}
    assert {k: v for k, v in as_me.items() if k != "results"} == {k: v for k, v in anonymous.items() if k != "results"}


def test_session_list_works_when_the_cache_is_down(api, monkeypatch):
    from django.core.cache import cache

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    conference = ConferenceFactory()
    SessionFactory(conference=conference, title="Still here")
    monkeypatch.setattr(cache, "get", broken)
    monkeypatch.setattr(cache, "set", broken)

    response = api.get(_sessions_url(conference))

    assert response.status_code == 200
    assert response.json()["results"][0]["title"] == "Still here"


def test_session_list_caches_only_known_filters(api, monkeypatch):
    from django.core.cache import cache

    stored: list[str] = []
    original_set = cache.set
    monkeypatch.setattr(
        cache, "set", lambda key, *args, **kwargs: stored.append(key) or original_set(key, *args, **kwargs)
    )
    conference = ConferenceFactory()
    SessionFactory(conference=conference, title="Rollups")

    api.get(_sessions_url(conference, "?q=roll"))
    api.get(_sessions_url(conference, "?cachebuster=1"))
    after_uncacheable = [key for key in stored if key.startswith("agenda:page:")]
    api.get(_sessions_url(conference, "?day=2030-05-01&page_size=10"))

    assert after_uncacheable == []
    assert len([key for key in stored if key.startswith("agenda:page:")]) == 1
