"""
``q`` on the list endpoints (API v1.2 "Search"): full-text search on
PostgreSQL (stemmed, unaccented, every word in any field, the last word as a
prefix, by relevance), kept current by triggers (ADR 0011), and the
substring match that SQLite and ``SEARCH_MODE=substring`` keep.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conferences.models import SessionSpeaker
from conferences.selectors import sessions_for_conference
from conferences.services import import_schedule
from tests.conferences.schedules import events_of, load
from tests.conftest import client_for
from tests.factories import (
    AttendanceFactory,
    ConferenceFactory,
    EventFactory,
    SessionFactory,
    SpeakerFactory,
    TrackFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NASTY_QUERIES = [
    "'",
    '"',
    "\\",
    "&|!():*",
    "kube & | ! ( ) : * <-> <2>",
    "'kube':* & !operator",
    "a:*:*",
    "!!!",
    "...",
    "-",
    "_",
    "__init__",
    "x" * 5000,
    "word " * 2000,
    "日本語 テスト",
    "Łódź café naïve",
    "emoji 🚀 rocket",
    "² ½ Ⅷ ٣",
    "\u0301\u0308",
    "null\x00byte",
    "%_%",
    "OR AND NOT",
    "the",
    "the for a",
]


def _sessions(conference, query: str, extra: str = "") -> list[int]:
    response = client_for(UserFactory()).get(
        f"/api/v1/conferences/{conference.slug}/sessions/?page_size=100&q={query}{extra}"
    )
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def _speakers(api, conference, query: str) -> list[int]:
    response = api.get(f"/api/v1/conferences/{conference.slug}/speakers/", {"q": query})
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def _events(api, query: str, extra: dict | None = None) -> list[int]:
    response = api.get("/api/v1/events/", {"q": query, **(extra or {})})
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def _attendees(viewer, conference, query: str) -> list[int]:
    response = client_for(viewer).get(f"/api/v1/conferences/{conference.slug}/attendees/", {"q": query})
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def _attendee(conference, **fields):
    return AttendanceFactory(conference=conference, user__directory_visible=True, **fields).user


# --- Sessions ------------------------------------------------------------------------


def test_sessions_stemming_word_order_and_every_field(api):
    conference = ConferenceFactory()
    by_title = SessionFactory(conference=conference, title="Operators for Kubernetes")
    by_abstract = SessionFactory(conference=conference, title="Cluster day", abstract="Writing a Kubernetes operator")
    by_speaker = SessionFactory(conference=conference, title="Keynote")
    SessionSpeaker.objects.create(
        session=by_speaker, speaker=SpeakerFactory(conference=conference, name="Kubernetes Operator Guild")
    )
    by_track = SessionFactory(
        conference=conference, title="Operator patterns", track=TrackFactory(conference=conference, name="Kubernetes")
    )
    # Negative controls: only one of the two words; the right words in another conference.
    SessionFactory(conference=conference, title="Kubernetes for beginners")
    SessionFactory(conference=conference, title="Smooth operators")
    SessionFactory(conference=ConferenceFactory(), title="Operators for Kubernetes")

    found = _sessions(conference, "kubernetes operator")

    assert set(found) == {by_title.pk, by_abstract.pk, by_speaker.pk, by_track.pk}
    assert set(_sessions(conference, "operators")) >= {by_title.pk, by_abstract.pk}


def test_sessions_accents_are_ignored_both_ways(api):
    conference = ConferenceFactory()
    accented = SessionFactory(conference=conference, title="Meetup at the Café Müller")
    plain = SessionFactory(conference=conference, title="Cafe culture")
    SessionFactory(conference=conference, title="Coffee break")

    assert set(_sessions(conference, "cafe")) == {accented.pk, plain.pk}
    assert set(_sessions(conference, "café")) == {accented.pk, plain.pk}
    assert _sessions(conference, "muller") == [accented.pk]


def test_sessions_last_word_is_a_prefix(api):
    conference = ConferenceFactory()
    kubernetes = SessionFactory(conference=conference, title="Operators for Kubernetes")
    SessionFactory(conference=conference, title="Cubes and spheres")

    assert _sessions(conference, "kube") == [kubernetes.pk]
    assert _sessions(conference, "operat") == [kubernetes.pk]
    assert _sessions(conference, "operators kub") == [kubernetes.pk]
    # Only the last word is a prefix: "kube" in the middle must be a whole word.
    assert _sessions(conference, "kube operators") == []


def test_sessions_negative_control_matches_nothing(api):
    conference = ConferenceFactory()
    SessionFactory(conference=conference, title="Operators for Kubernetes", abstract="Reconcile loops")

    assert _sessions(conference, "postgres") == []
    assert _sessions(conference, "kubernetes postgres") == []


def test_sessions_by_relevance_with_ties_in_time_order(api):
    conference = ConferenceFactory()
    start = timezone.now() + timedelta(days=1)
    in_abstract = SessionFactory(conference=conference, starts_at=start, title="Day one", abstract="Some rust")
    tie_late = SessionFactory(conference=conference, starts_at=start + timedelta(hours=3), title="Rust")
    tie_early = SessionFactory(conference=conference, starts_at=start + timedelta(hours=2), title="Rust")
    in_title_twice = SessionFactory(
        conference=conference, starts_at=start + timedelta(hours=5), title="Rust, Rust, Rust", abstract="Rust"
    )

    assert _sessions(conference, "rust") == [in_title_twice.pk, tie_early.pk, tie_late.pk, in_abstract.pk]
    assert _sessions(conference, "rust", "&ordering=starts_at") == [
        in_abstract.pk,
        tie_early.pk,
        tie_late.pk,
        in_title_twice.pk,
    ]
    assert _sessions(conference, "rust", "&ordering=-starts_at") == [
        in_title_twice.pk,
        tie_late.pk,
        tie_early.pk,
        in_abstract.pk,
    ]


def test_sessions_unknown_ordering_is_400(api):
    conference = ConferenceFactory()

    response = api.get(f"/api/v1/conferences/{conference.slug}/sessions/?q=rust&ordering=title")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "ordering" in response.json()["details"]


@pytest.mark.parametrize("query", ["", "   ", "%20%09"])
def test_sessions_empty_or_whitespace_q_is_no_filter(api, query):
    conference = ConferenceFactory()
    sessions = [SessionFactory(conference=conference) for _ in range(3)]

    assert _sessions(conference, query) == [session.pk for session in sessions]


@pytest.mark.parametrize("count", [1, 5])
def test_sessions_search_query_count_is_constant(user_api, count, django_assert_max_num_queries):
    conference = ConferenceFactory()
    for n in range(count):
        session = SessionFactory(conference=conference, title=f"Kubernetes operators {n}")
        SessionSpeaker.objects.create(session=session, speaker=SpeakerFactory(conference=conference))

    # user, conference with its fingerprint, the caller's bookmarks, count, sessions, speakers
    with django_assert_max_num_queries(6):
        response = user_api.get(f"/api/v1/conferences/{conference.slug}/sessions/?q=kubernetes+oper")

    assert len(response.json()["results"]) == count


# --- Speakers ------------------------------------------------------------------------


def test_speakers_name_and_biography(api):
    conference = ConferenceFactory()
    by_name = SpeakerFactory(conference=conference, name="Zoë Ångström")
    by_bio = SpeakerFactory(conference=conference, name="Bob", bio="Maintains several Kubernetes operators.")
    SpeakerFactory(conference=conference, name="Carol", bio="Databases.")

    assert _speakers(api, conference, "zoe angstrom") == [by_name.pk]
    assert _speakers(api, conference, "operator kubern") == [by_bio.pk]
    assert _speakers(api, conference, "postgres") == []


@pytest.mark.parametrize("count", [1, 5])
def test_speakers_search_query_count_is_constant(api, count, django_assert_max_num_queries):
    conference = ConferenceFactory()
    for n in range(count):
        SpeakerFactory(conference=conference, name=f"Ada {n}")

    with django_assert_max_num_queries(3):  # conference, count, speakers
        response = api.get(f"/api/v1/conferences/{conference.slug}/speakers/?q=ada")

    assert len(response.json()["results"]) == count


# --- Attendees -----------------------------------------------------------------------


def test_attendees_name_company_title_and_interests(user):
    conference = ConferenceFactory()
    AttendanceFactory(conference=conference, user=user)
    by_name = _attendee(conference, user__first_name="José", user__last_name="Núñez")
    by_company = _attendee(conference, user__company="Operators Inc.")
    by_title = _attendee(conference, user__job_title="Kubernetes operator")
    by_interest = _attendee(conference, user__interests=["kubernetes", "running"])
    hidden = AttendanceFactory(
        conference=conference, user__directory_visible=False, user__job_title="Kubernetes operator"
    )

    assert _attendees(user, conference, "jose nunez") == [by_name.pk]
    assert set(_attendees(user, conference, "operator")) == {by_company.pk, by_title.pk}
    assert set(_attendees(user, conference, "kubernetes")) == {by_title.pk, by_interest.pk}
    assert _attendees(user, conference, "runs kubernetes") == [by_interest.pk]
    assert hidden.user_id not in _attendees(user, conference, "kubernetes")
    assert _attendees(user, conference, "accountant") == []


def test_attendees_ranked_by_relevance_ties_by_name(user):
    conference = ConferenceFactory()
    AttendanceFactory(conference=conference, user=user)
    interest = _attendee(conference, user__first_name="Aaron", user__interests=["rust"])
    zed = _attendee(conference, user__first_name="Zed", user__last_name="Rust")
    bea = _attendee(conference, user__first_name="Bea", user__last_name="Rust")

    assert _attendees(user, conference, "rust") == [bea.pk, zed.pk, interest.pk]


def test_attendees_profile_edit_changes_results_at_once(user):
    conference = ConferenceFactory()
    AttendanceFactory(conference=conference, user=user)
    person = _attendee(conference, user__job_title="Accountant")
    assert _attendees(user, conference, "engineer") == []

    response = client_for(person).patch("/api/v1/users/me/", {"job_title": "Platform engineer"}, format="json")

    assert response.status_code == 200
    assert _attendees(user, conference, "engineering") == [person.pk]
    assert _attendees(user, conference, "accountant") == []


@pytest.mark.parametrize("count", [1, 5])
def test_attendees_search_query_count_is_constant(user, count, django_assert_max_num_queries):
    conference = ConferenceFactory()
    AttendanceFactory(conference=conference, user=user)
    for _ in range(count):
        _attendee(conference, user__company="Kubernetes Operators GmbH")

    client = client_for(user)

    with django_assert_max_num_queries(4):  # user, conference, count, people
        response = client.get(f"/api/v1/conferences/{conference.slug}/attendees/?q=kubernetes+operator")

    assert len(response.json()["results"]) == count


# --- Side events ---------------------------------------------------------------------


def test_events_title_description_location(api):
    soon = timezone.now() + timedelta(days=1)
    by_title = EventFactory(title="Kubernetes operators breakfast", starts_at=soon)
    by_description = EventFactory(title="Morning", description="Talk shop about an operator", starts_at=soon)
    by_location = EventFactory(title="Drinks", location="Café Kubernetes", starts_at=soon)
    EventFactory(title="Yoga", description="Stretching", location="Park")

    assert set(_events(api, "kubernetes")) == {by_title.pk, by_location.pk}
    assert set(_events(api, "operators")) == {by_title.pk, by_description.pk}
    assert _events(api, "cafe kube") == [by_location.pk]
    assert _events(api, "basketball") == []


def test_events_by_relevance_unless_ordering(api):
    start = timezone.now() + timedelta(days=1)
    weak = EventFactory(title="Meetup", description="maybe a rooftop later", starts_at=start, location="Park")
    strong = EventFactory(title="Rooftop party", starts_at=start + timedelta(hours=1), location="Rooftop")

    assert _events(api, "rooftop") == [strong.pk, weak.pk]
    assert _events(api, "rooftop", {"ordering": "starts_at"}) == [weak.pk, strong.pk]
    assert api.get("/api/v1/events/", {"q": "rooftop", "ordering": "rank"}).status_code == 400


@pytest.mark.parametrize("count", [1, 5])
def test_events_search_query_count_is_constant(api, count, django_assert_max_num_queries):
    for n in range(count):
        EventFactory(title=f"Kubernetes breakfast {n}")

    with django_assert_max_num_queries(2):  # count, events
        response = api.get("/api/v1/events/?q=kubernetes")

    assert len(response.json()["results"]) == count


# --- Bad input -----------------------------------------------------------------------


@pytest.mark.parametrize("query", NASTY_QUERIES)
def test_no_input_breaks_any_search(user, query):
    conference = ConferenceFactory()
    AttendanceFactory(conference=conference, user=user)
    _attendee(conference, user__first_name="Kube")
    SessionFactory(conference=conference, title="Kubernetes operators")
    SpeakerFactory(conference=conference, name="Kube")
    EventFactory(title="Kubernetes")
    client = client_for(user)

    for url in (
        f"/api/v1/conferences/{conference.slug}/sessions/",
        f"/api/v1/conferences/{conference.slug}/speakers/",
        f"/api/v1/conferences/{conference.slug}/attendees/",
        "/api/v1/events/",
    ):
        response = client.get(url, {"q": query})
        assert response.status_code in (200, 400), (url, response.content)
        if response.status_code == 400:  # only a NUL byte may be refused, with the contract's body
            assert "\x00" in query
            assert response.json()["code"]


def test_punctuation_only_matches_nothing(api):
    conference = ConferenceFactory()
    SessionFactory(conference=conference, title="Kubernetes")

    assert _sessions(conference, "%26%7C%21%28%29%3A%2A") == []


def test_operators_in_input_are_words_not_syntax(api):
    conference = ConferenceFactory()
    kubernetes = SessionFactory(conference=conference, title="Operators for Kubernetes")
    SessionFactory(conference=conference, title="Kubernetes alone")

    # "!operator" would negate in tsquery syntax; here it is the word "operator".
    assert _sessions(conference, "kubernetes+%21operator") == [kubernetes.pk]
    assert _sessions(conference, "%27kubernetes%27%3A*+%7C+operators") == [kubernetes.pk]


# --- Fallback ------------------------------------------------------------------------


def test_substring_mode_keeps_substring_match(api, settings):
    settings.SEARCH_MODE = "substring"
    conference = ConferenceFactory()
    start = timezone.now() + timedelta(days=1)
    later = SessionFactory(
        conference=conference, title="Operators for Kubernetes", starts_at=start + timedelta(hours=1)
    )
    earlier = SessionFactory(conference=conference, title="Kubernetes", starts_at=start)
    track = SessionFactory(
        conference=conference,
        title="Other",
        starts_at=start + timedelta(hours=2),
        track=TrackFactory(conference=conference, name="Kube"),
    )

    assert _sessions(conference, "kube") == [earlier.pk, later.pk, track.pk]  # time order, no ranking
    assert _sessions(conference, "ubernete") == [earlier.pk, later.pk]  # a substring, not a word
    assert _sessions(conference, "kubernetes operator") == []  # the whole text, in that order
    assert _speakers(api, conference, "&|!") == []


# --- Index --------------------------------------------------------------------------


def test_search_uses_the_gin_index_on_a_larger_table():
    conference = ConferenceFactory()
    SessionFactory(conference=conference, title="Kubernetes operators")
    with connection.cursor() as cursor:  # 50,000 more sessions in one statement (the trigger fills their vectors)
        cursor.execute(
            """
            INSERT INTO conferences_session (conference_id, guid, title, abstract, description, starts_at, ends_at,
                type, language, url, created_at, updated_at)
            SELECT %s, 'bulk-' || n, 'Talk number ' || n, 'Plain abstract about databases ' || n, '', now(), now(),
                '', '', '', now(), now()
            FROM generate_series(1, 50000) AS n
            """,
            [conference.pk],
        )
        cursor.execute("ANALYZE conferences_session")

    queryset = sessions_for_conference(conference, q="kubernetes operat")
    plan = queryset.explain()

    assert "conferences_session_search_vector_gin" in plan, plan
    assert [session.title for session in queryset] == ["Kubernetes operators"]


def test_stored_vectors_are_current_after_insert(api):
    """The trigger fills the column on insert: no row is left without a vector."""
    conference = ConferenceFactory()
    SessionFactory.create_batch(3, conference=conference)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM conferences_session WHERE search_vector IS NULL")
        (missing,) = cursor.fetchone()

    assert missing == 0


# --- Freshness: imports, edits and renames show at once ------------------------------


def _democon(conference):
    data = load("pretalx-democon.json")
    import_schedule(conference, data)
    return data


def test_import_makes_sessions_findable_and_reimport_changes_results():
    conference = ConferenceFactory(slug="democon")
    data = _democon(conference)
    first = events_of(data)[0]
    word = first["title"].split()[-1]
    assert any(item for item in _sessions(conference, word))

    edited = load("pretalx-democon.json")
    events_of(edited)[0]["title"] = "Zanzibar quantum llamas"
    import_schedule(conference, edited)

    found = _sessions(conference, "zanzibar llama")
    assert len(found) == 1
    assert _sessions(conference, "zanzibar quantum llamas") == found


def test_admin_edit_of_a_session_changes_results_at_once(admin_api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference, title="Databases")
    assert _sessions(conference, "kubernetes") == []

    response = admin_api.patch(
        f"/api/v1/conferences/{conference.slug}/sessions/{session.pk}/", {"title": "Kubernetes"}, format="json"
    )

    assert response.status_code == 200
    assert _sessions(conference, "kubernetes") == [session.pk]
    assert _sessions(conference, "databases") == []


def test_speaker_rename_and_relink_change_session_results_at_once(admin_api):
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference, title="Keynote")
    speaker = SpeakerFactory(conference=conference, name="Ada Lovelace")
    other = SpeakerFactory(conference=conference, name="Grace Hopper")
    SessionSpeaker.objects.create(session=session, speaker=speaker)
    assert _sessions(conference, "lovelace") == [session.pk]

    response = admin_api.patch(
        f"/api/v1/conferences/{conference.slug}/speakers/{speaker.pk}/", {"name": "Ada Byron"}, format="json"
    )

    assert response.status_code == 200
    assert _sessions(conference, "lovelace") == []
    assert _sessions(conference, "byron") == [session.pk]
    assert _speakers(admin_api, conference, "byron") == [speaker.pk]

    response = admin_api.patch(
        f"/api/v1/conferences/{conference.slug}/sessions/{session.pk}/", {"speakers": [other.pk]}, format="json"
    )

    assert response.status_code == 200
    assert _sessions(conference, "byron") == []
    assert _sessions(conference, "hopper") == [session.pk]


def test_track_rename_and_delete_change_session_results_at_once(admin_api):
    conference = ConferenceFactory()
    track = TrackFactory(conference=conference, name="Cloud native")
    session = SessionFactory(conference=conference, title="Keynote", track=track)
    assert _sessions(conference, "cloud") == [session.pk]

    response = admin_api.patch(
        f"/api/v1/conferences/{conference.slug}/tracks/{track.pk}/", {"name": "Edge computing"}, format="json"
    )

    assert response.status_code == 200
    assert _sessions(conference, "cloud") == []
    assert _sessions(conference, "edge") == [session.pk]

    assert admin_api.delete(f"/api/v1/conferences/{conference.slug}/tracks/{track.pk}/").status_code == 204
    assert _sessions(conference, "edge") == []
    assert _sessions(conference, "keynote") == [session.pk]


def test_event_edit_changes_results_at_once(api, admin_api):
    event = EventFactory(title="Breakfast", starts_at=timezone.now() + timedelta(days=1))
    assert _events(api, "brunch") == []

    response = admin_api.patch(f"/api/v1/events/{event.pk}/", {"title": "Brunch"}, format="json")

    assert response.status_code == 200

    assert _events(api, "brunch") == [event.pk]
    assert _events(api, "breakfast") == []
