from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from conferences import services
from conferences.models import Bookmark, SessionSpeaker
from conferences.services import import_schedule
from events.models import RSVP, RSVPStatus
from tests.conferences.schedules import load
from tests.conftest import client_for
from tests.factories import ConferenceFactory, EventFactory, SessionFactory, SpeakerFactory, TrackFactory, UserFactory

pytestmark = pytest.mark.django_db


def _ics_url(conference) -> str:
    return f"/api/v1/conferences/{conference.slug}/schedule.ics"


def test_schedule_ics_parses_back_one_vevent_per_session(api):
    conference = ConferenceFactory(name="IBW")
    import_schedule(conference, load("pretalx-democon.json"))

    response = api.get(_ics_url(conference))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["x-wr-calname"]) == "IBW"
    events = calendar.walk("VEVENT")
    assert len(events) == 36
    assert len({str(e["uid"]) for e in events}) == 36
    first = next(e for e in events if str(e["uid"]).startswith("8079583e-8321-506c-95af-fd2903a5f075@"))
    assert str(first["uid"]) == "8079583e-8321-506c-95af-fd2903a5f075@testserver"
    assert str(first["summary"]) == "Focused 5thgeneration hardware"
    assert first.decoded("dtstart") == datetime(2020, 12, 14, 8, 0, tzinfo=UTC)
    assert first.decoded("dtend") == datetime(2020, 12, 14, 8, 30, tzinfo=UTC)
    assert str(first["location"]) == "Gray Room"
    assert str(first["description"]) == "Brand back-end models!"
    assert first["categories"].cats == ["Phased"]


def test_schedule_ics_uid_is_stable_across_reimports_and_moves(api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference, guid="fixed-guid")
    before = icalendar.Calendar.from_ical(api.get(_ics_url(conference)).content).walk("VEVENT")[0]

    services.update_session(
        session, starts_at=session.starts_at + timedelta(hours=2), ends_at=session.ends_at + timedelta(hours=2)
    )
    after = icalendar.Calendar.from_ical(api.get(_ics_url(conference)).content).walk("VEVENT")[0]

    assert str(before["uid"]) == str(after["uid"]) == "fixed-guid@testserver"
    assert after.decoded("dtstart") - before.decoded("dtstart") == timedelta(hours=2)


def test_schedule_ics_accepts_calendar_accept_header(api):
    conference = ConferenceFactory()
    SessionFactory(conference=conference)

    response = api.get(_ics_url(conference), HTTP_ACCEPT="text/calendar")

    assert response.status_code == 200
    assert response.content.startswith(b"BEGIN:VCALENDAR")


def test_schedule_ics_etag_304_until_change(api, django_assert_max_num_queries):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference, track=TrackFactory(conference=conference))
    SessionSpeaker.objects.create(session=session, speaker=SpeakerFactory(conference=conference))
    first = api.get(_ics_url(conference))

    with django_assert_max_num_queries(1):
        cached = api.get(_ics_url(conference), HTTP_IF_NONE_MATCH=first["ETag"])
    services.update_track(session.track, name="Renamed track")
    changed = api.get(_ics_url(conference), HTTP_IF_NONE_MATCH=first["ETag"])

    assert cached.status_code == 304
    assert cached["ETag"] == first["ETag"]
    assert changed.status_code == 200
    assert b"Renamed track" in changed.content


def test_schedule_ics_same_data_same_bytes(api):
    conference = ConferenceFactory()
    SessionFactory(conference=conference)

    assert api.get(_ics_url(conference)).content == api.get(_ics_url(conference)).content


def test_schedule_ics_unknown_conference_is_json_404(api):
    response = api.get("/api/v1/conferences/nope/schedule.ics", HTTP_ACCEPT="text/calendar")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


# --- Personal feed ----------------------------------------------------------------------


def test_my_calendar_url_serves_bookmarks_and_rsvps_without_jwt(user, user_api, api):
    conference = ConferenceFactory()
    bookmarked = SessionFactory(conference=conference, title="Bookmarked talk", guid="g-1")
    SessionFactory(conference=conference, title="Not mine")
    Bookmark.objects.create(user=user, session=bookmarked)
    going = EventFactory(title="Rooftop drinks")
    waiting = EventFactory(title="Sold-out dinner")
    RSVP.objects.create(event=going, user=user, status=RSVPStatus.GOING)
    RSVP.objects.create(event=waiting, user=user, status=RSVPStatus.WAITLISTED)

    url = user_api.get("/api/v1/users/me/calendar/").json()["url"]
    response = api.get(url)

    assert url == f"http://testserver/api/v1/calendar/{user.calendar_token}.ics"
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    events = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert {str(e["summary"]): str(e["status"]) for e in events} == {
        "Bookmarked talk": "CONFIRMED",
        "Rooftop drinks": "CONFIRMED",
        "Sold-out dinner": "TENTATIVE",
    }
    uids = {str(e["uid"]) for e in events}
    assert uids == {"g-1@testserver", f"event-{going.pk}@testserver", f"event-{waiting.pk}@testserver"}


def test_my_calendar_rotation_kills_old_url(user, user_api, api):
    old_url = user_api.get("/api/v1/users/me/calendar/").json()["url"]

    rotated = user_api.post("/api/v1/users/me/calendar/")
    new_url = rotated.json()["url"]

    assert rotated.status_code == 200
    assert new_url != old_url
    assert api.get(old_url).status_code == 404
    assert api.get(new_url).status_code == 200
    assert user_api.get("/api/v1/users/me/calendar/").json()["url"] == new_url


def test_calendar_feed_unknown_token_is_404(api):
    response = api.get("/api/v1/calendar/not-a-token.ics")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_calendar_feed_etag(user, api):
    url = f"/api/v1/calendar/{user.calendar_token}.ics"
    etag = api.get(url)["ETag"]

    assert api.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    Bookmark.objects.create(user=user, session=SessionFactory())
    assert api.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_calendar_feed_of_other_user_is_not_mine(user):
    other = UserFactory()
    Bookmark.objects.create(user=other, session=SessionFactory(title="Theirs"))

    response = client_for(user).get(f"/api/v1/calendar/{user.calendar_token}.ics")

    assert b"Theirs" not in response.content


def test_my_calendar_needs_login(api):
    assert api.get("/api/v1/users/me/calendar/").status_code == 401
    assert api.post("/api/v1/users/me/calendar/").status_code == 401
