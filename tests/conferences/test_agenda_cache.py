"""
The agenda under the morning rush: a cached page for an anonymous caller is
one cache read and no SQL; a logged-in caller adds a constant number of
queries for their bookmarks; ETags and 304s keep their meaning.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from conferences.models import Bookmark, Session, SessionSpeaker
from conferences.services import update_session
from tests.conftest import client_for
from tests.factories import ConferenceFactory, SessionFactory, SpeakerFactory, UserFactory

pytestmark = pytest.mark.django_db


def _agenda(conference, query: str = "?page_size=100") -> str:
    return f"/api/v1/conferences/{conference.slug}/sessions/{query}"


def _ics(conference) -> str:
    return f"/api/v1/conferences/{conference.slug}/schedule.ics"


@pytest.fixture
def agenda():
    conference = ConferenceFactory()
    sessions = [SessionFactory(conference=conference) for _ in range(30)]
    for session in sessions[:10]:
        session.speakers.add(SpeakerFactory(conference=conference))
    return conference, sessions


@pytest.fixture
def cache_reads(monkeypatch):
    """Every agenda/calendar key the code reads from the cache, one entry per round trip."""
    reads: list[list[str]] = []
    original_get, original_get_many = cache.get, cache.get_many

    def get(key, *args, **kwargs):
        if key.startswith(("agenda:", "ics:")):
            reads.append([key])
        return original_get(key, *args, **kwargs)

    def get_many(keys, *args, **kwargs):
        if any(k.startswith(("agenda:", "ics:")) for k in keys):
            reads.append(list(keys))
        return original_get_many(keys, *args, **kwargs)

    monkeypatch.setattr(cache, "get", get)
    monkeypatch.setattr(cache, "get_many", get_many)
    return reads


def test_anonymous_cached_agenda_page_is_one_cache_read_and_no_sql(api, agenda, cache_reads, django_assert_num_queries):
    conference, sessions = agenda
    first = api.get(_agenda(conference))
    cache_reads.clear()

    with django_assert_num_queries(0):
        again = api.get(_agenda(conference))

    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["count"] == 30
    assert again["ETag"] == first["ETag"]
    assert len(cache_reads) == 1  # the agenda version and the page, in one get_many


def test_anonymous_304_is_no_sql(api, agenda, django_assert_num_queries):
    conference, _ = agenda
    etag = api.get(_agenda(conference))["ETag"]

    with django_assert_num_queries(0):
        response = api.get(_agenda(conference), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304


@pytest.mark.parametrize("bookmarks", [1, 25])
def test_logged_in_cached_page_costs_a_constant_number_of_queries(agenda, bookmarks, django_assert_max_num_queries):
    conference, sessions = agenda
    user = UserFactory()
    for session in sessions[:bookmarks]:
        Bookmark.objects.create(user=user, session=session)
    client = client_for(user)
    client.get(_agenda(conference))  # warms the shared page

    with django_assert_max_num_queries(2):  # the caller (JWT) and their bookmarks
        response = client.get(_agenda(conference))

    flags = {item["id"]: item["bookmarked"] for item in response.json()["results"]}
    assert response.status_code == 200
    assert sorted(pk for pk, flag in flags.items() if flag) == sorted(s.pk for s in sessions[:bookmarks])
    assert response["Cache-Control"].startswith("private")


def test_bookmarking_changes_the_callers_etag_at_once(agenda):
    conference, sessions = agenda
    user = UserFactory()
    client = client_for(user)
    etag = client.get(_agenda(conference))["ETag"]

    Bookmark.objects.create(user=user, session=sessions[3])
    response = client.get(_agenda(conference), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200
    assert [i["id"] for i in response.json()["results"] if i["bookmarked"]] == [sessions[3].pk]


def test_cached_schedule_ics_is_no_sql(api, agenda, django_assert_num_queries):
    conference, _ = agenda
    first = api.get(_ics(conference))

    with django_assert_num_queries(0):
        again = api.get(_ics(conference))

    assert again.status_code == 200
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]


def test_saved_change_shows_at_once_even_within_the_version_cache(api, agenda, settings):
    settings.AGENDA_VERSION_SECONDS = 3600
    conference, sessions = agenda
    etag = api.get(_agenda(conference))["ETag"]

    update_session(sessions[0], title="Moved to the main stage")
    response = api.get(_agenda(conference), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200
    assert "Moved to the main stage" in [i["title"] for i in response.json()["results"]]


@pytest.mark.django_db(transaction=True)
def test_change_committed_later_is_not_hidden_by_a_request_in_between(settings):
    """A request from another connection between the save and its commit
    caches the old version; the commit drops it, so the next request sees
    the change."""
    settings.AGENDA_VERSION_SECONDS = 3600
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference, title="Before")
    APIClient().get(_agenda(conference))

    def request_from_another_connection():
        try:
            return APIClient().get(_agenda(conference)).json()["results"][0]["title"]
        finally:
            connection.close()

    with transaction.atomic():
        update_session(session, title="After")
        with ThreadPoolExecutor(1) as pool:
            in_between = pool.submit(request_from_another_connection).result()
    after_commit = APIClient().get(_agenda(conference))

    assert in_between == "Before"  # the uncommitted change was invisible to it
    assert after_commit.json()["results"][0]["title"] == "After"


def test_a_write_around_the_services_shows_within_the_version_seconds(api, agenda, settings):
    """A write that bypasses conferences.services (a shell, a data migration)
    drops no cached version: it is hidden for at most AGENDA_VERSION_SECONDS."""
    settings.AGENDA_VERSION_SECONDS = 1
    conference, sessions = agenda
    etag = api.get(_agenda(conference))["ETag"]

    Session.objects.filter(pk=sessions[0].pk).update(title="Bulk renamed", updated_at=timezone.now())
    within = api.get(_agenda(conference), HTTP_IF_NONE_MATCH=etag)
    time.sleep(1.2)
    after = api.get(_agenda(conference), HTTP_IF_NONE_MATCH=etag)

    assert within.status_code == 304
    assert after.status_code == 200
    assert "Bulk renamed" in [i["title"] for i in after.json()["results"]]


def test_agenda_is_served_when_the_cache_is_down(api, agenda, monkeypatch):
    conference, _ = agenda

    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get_many", broken)
    monkeypatch.setattr(cache, "set", broken)
    response = api.get(_agenda(conference))

    assert response.status_code == 200
    assert response.json()["count"] == 30


def test_unknown_conference_is_a_404_and_caches_nothing(api, cache_reads):
    response = api.get("/api/v1/conferences/no-such-thing/sessions/")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert cache.get_many([k for r in cache_reads for k in r]) == {}


def test_fast_session_representation_equals_drf_fields(agenda):
    from conferences.api.serializers import SessionSerializer
    from conferences.selectors import sessions_for_conference

    conference, sessions = agenda
    bare = SessionFactory(conference=conference, room=None, abstract="ünïcode — ok", url="https://example.org/x")
    user = UserFactory()
    Bookmark.objects.create(user=user, session=sessions[0])
    loaded = list(sessions_for_conference(conference, user=user))
    serializer = SessionSerializer()

    assert len(loaded) == 31
    assert any(item.pk == bare.pk for item in loaded)
    for session in loaded:
        assert serializer.to_representation(session) == serializer.field_representation(session)


def test_agenda_rows_render_as_the_serializer_does(agenda):
    """A cache miss renders rows, not model instances: each must equal what DRF's fields give."""
    from conferences.api.serializers import SessionSerializer, session_row_representation
    from conferences.api.views import _compact_json
    from conferences.selectors import agenda_rows, sessions_for_conference, with_speaker_rows

    conference, sessions = agenda
    SessionFactory(conference=conference, room=None, track=None, abstract="ünïcode — ok\u2028next line")
    first, second = SpeakerFactory(conference=conference, name="Zed"), SpeakerFactory(conference=conference, name="Ada")
    SessionSpeaker.objects.create(session=sessions[3], speaker=first, position=0)
    SessionSpeaker.objects.create(session=sessions[3], speaker=second, position=1)
    expected = [SessionSerializer().field_representation(s) for s in sessions_for_conference(conference)]

    rendered = [session_row_representation(row) for row in with_speaker_rows(agenda_rows(conference))]

    assert len(rendered) == 31
    assert rendered == expected
    assert [_compact_json(item) for item in rendered] == [JSONRenderer().render(item) for item in rendered]
    shown = next(item for item in rendered if item["id"] == sessions[3].pk)
    assert [speaker["name"] for speaker in shown["speakers"]][-2:] == ["Zed", "Ada"]


def test_anonymous_and_logged_in_pages_agree_but_for_bookmarks(api, agenda):
    conference, sessions = agenda
    user = UserFactory()
    Bookmark.objects.create(user=user, session=sessions[1])
    anonymous = api.get(_agenda(conference))
    again = api.get(_agenda(conference))  # from the stored bytes
    mine = client_for(user).get(_agenda(conference))

    assert anonymous["Content-Type"] == again["Content-Type"] == mine["Content-Type"] == "application/json"
    assert anonymous.content == again.content
    flagged = [{**item, "bookmarked": False} for item in mine.json()["results"]]
    assert {**mine.json(), "results": flagged} == anonymous.json()
    assert [i["id"] for i in mine.json()["results"] if i["bookmarked"]] == [sessions[1].pk]
