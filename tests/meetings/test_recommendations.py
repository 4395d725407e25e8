from __future__ import annotations

import pytest
from django.core.cache import cache

from connections.models import ConnectionStatus
from connections.selectors import blocked_user_ids
from meetings.recommendations import roles_in_title
from tests.conftest import client_for
from tests.connections.factories import BlockFactory, BookmarkFactory, ConnectionFactory, RSVPFactory
from tests.factories import (
    AttendanceFactory,
    ConferenceFactory,
    EventFactory,
    SessionFactory,
    TrackFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/connections/recommendations/"


@pytest.fixture
def conference():
    return ConferenceFactory(slug="devcon")


@pytest.fixture
def me(conference):
    user = UserFactory(interests=["ZK", "DeFi", "Rust"], job_title="Co-founder & CEO")
    AttendanceFactory(conference=conference, user=user)
    return user


def _attendee(conference, **fields):
    fields.setdefault("directory_visible", True)
    user = UserFactory(**fields)
    AttendanceFactory(conference=conference, user=user)
    return user


def _get(user, query="conference=devcon"):
    return client_for(user).get(f"{URL}?{query}")


def test_recommendations_explain_shared_interests_case_insensitively(me, conference):
    other = _attendee(conference, interests=["zk", " defi ", "Gardening"])

    response = _get(me)

    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "user": response.json()["results"][0]["user"],
            "score": 6,
            "reasons": ["Shared interests: ZK, DeFi"],
            "next_free_slot": None,
        }
    ]
    assert response.json()["results"][0]["user"]["id"] == other.pk
    assert response.json()["results"][0]["user"]["display_name"] == other.get_display_name()


def test_recommendations_use_enrichment_tags_with_lower_weight(me, conference):
    me.enrichment_tags = ["MEV"]
    me.save()
    other = _attendee(conference, enrichment_tags=["rust", "mev"])

    result = _get(me).json()["results"][0]

    assert result["user"]["id"] == other.pk
    assert result["score"] == 4
    assert result["reasons"] == ["Related topics on your profiles: Rust, MEV"]


def test_recommendations_name_the_track_of_shared_bookmarks(me, conference):
    research = TrackFactory(conference=conference, name="Research")
    sessions = [SessionFactory(conference=conference, track=research) for _ in range(3)]
    other = _attendee(conference)
    for session in sessions:
        BookmarkFactory(user=me, session=session)
        BookmarkFactory(user=other, session=session)

    result = _get(me).json()["results"][0]

    assert result["score"] == 6
    assert result["reasons"] == ["You both bookmarked 3 sessions in the Research track"]


def test_recommendations_name_a_single_shared_session(me, conference):
    session = SessionFactory(conference=conference, title="Proof systems", track=None)
    other = _attendee(conference)
    BookmarkFactory(user=me, session=session)
    BookmarkFactory(user=other, session=session)

    assert _get(me).json()["results"][0]["reasons"] == ["You both bookmarked “Proof systems”"]


def test_recommendations_count_side_events_both_are_going_to(me, conference):
    party = EventFactory(conference=conference, title="Rooftop party")
    week_wide = EventFactory(conference=None, title="Hack night")
    other = _attendee(conference)
    for event in (party, week_wide):
        RSVPFactory(user=me, event=event)
        RSVPFactory(user=other, event=event)
    waitlisted = EventFactory(conference=conference, title="Dinner")
    RSVPFactory(user=me, event=waitlisted)
    RSVPFactory(user=other, event=waitlisted, status="waitlisted")

    result = _get(me).json()["results"][0]

    assert result["score"] == 6
    assert result["reasons"] == ["You are both going to 2 side events: “Hack night”, “Rooftop party”"]


def test_recommendations_complementary_roles(me, conference):
    investor = _attendee(conference, job_title="General Partner at Paradigm-ish Ventures")
    _attendee(conference, job_title="Founder")  # same role: no reason

    results = _get(me).json()["results"]

    assert [(r["user"]["id"], r["score"], r["reasons"]) for r in results] == [
        (investor.pk, 5, ["Complementary roles: you're a founder, they're an investor"])
    ]


def test_recommendations_ordered_by_score_and_limited(me, conference):
    best = _attendee(conference, interests=["zk", "defi", "rust"])
    middle = _attendee(conference, interests=["zk", "defi"])
    _attendee(conference, interests=["rust"])

    body = _get(me, "conference=devcon&limit=2").json()

    assert [(r["user"]["id"], r["score"]) for r in body["results"]] == [(best.pk, 9), (middle.pk, 6)]


def test_recommendations_only_visible_attendees_not_connected_not_blocked(me, conference):
    shared = {"interests": ["ZK"]}
    visible = _attendee(conference, **shared)
    _attendee(conference, directory_visible=False, **shared)
    elsewhere = UserFactory(directory_visible=True, **shared)
    AttendanceFactory(user=elsewhere)  # another conference
    for status in ConnectionStatus.values:
        ConnectionFactory(from_user=me, to_user=_attendee(conference, **shared), status=status)
    ConnectionFactory(from_user=_attendee(conference, **shared), to_user=me)
    BlockFactory(blocker=me, blocked=_attendee(conference, **shared))
    BlockFactory(blocker=_attendee(conference, **shared), blocked=me)
    _attendee(conference, interests=["Knitting"])  # nothing in common

    results = _get(me).json()["results"]

    assert [r["user"]["id"] for r in results] == [visible.pk]


def test_recommendations_cached_list_still_drops_people_blocked_later(me, conference):
    other = _attendee(conference, interests=["ZK"])
    assert len(_get(me).json()["results"]) == 1

    client_for(other).post(f"/api/v1/users/{me.pk}/block/")

    assert _get(me).json()["results"] == []


def test_recommendations_are_cached(me, conference, django_assert_max_num_queries):
    _attendee(conference, interests=["ZK"])
    _get(me)
    late = _attendee(conference, interests=["ZK", "DeFi", "Rust"])

    api = client_for(me)

    # The user, the conference, blocks, connections, the profiles: none of the scoring queries.
    with django_assert_max_num_queries(5):
        results = api.get(f"{URL}?conference=devcon").json()["results"]

    assert late.pk not in [r["user"]["id"] for r in results]
    cache.clear()
    assert _get(me).json()["results"][0]["user"]["id"] == late.pk


def test_recommendations_fail_open_when_redis_is_down(me, conference, settings):
    other = _attendee(conference, interests=["ZK"])
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}

    response = _get(me)

    assert response.status_code == 200
    assert [r["user"]["id"] for r in response.json()["results"]] == [other.pk]


@pytest.mark.parametrize("count", [1, 5])
def test_recommendations_query_count_is_constant(me, conference, count, django_assert_max_num_queries):
    track = TrackFactory(conference=conference)
    session = SessionFactory(conference=conference, track=track)
    event = EventFactory(conference=conference)
    BookmarkFactory(user=me, session=session)
    RSVPFactory(user=me, event=event)
    for _ in range(count):
        other = _attendee(conference, interests=["ZK"], job_title="Angel investor")
        BookmarkFactory(user=other, session=session)
        RSVPFactory(user=other, event=event)

    api = client_for(me)

    with django_assert_max_num_queries(10):
        results = api.get(f"{URL}?conference=devcon").json()["results"]

    assert len(results) == count


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [("", 400, "conference"), ("conference=devcon&limit=51", 400, "limit"), ("conference=nope", 404, None)],
)
def test_recommendations_bad_query(me, query, status, field):
    response = _get(me, query)

    assert response.status_code == status
    if field:
        assert field in response.json()["details"]


def test_recommendations_anonymous_is_401(api, conference):
    assert api.get(f"{URL}?conference=devcon").status_code == 401


@pytest.mark.parametrize(
    ("title", "roles"),
    [
        ("Co-founder & CEO", {"founder"}),
        ("Senior Software Engineer", {"engineer"}),
        ("Technical Recruiter", {"hiring"}),
        ("Student, open to work", {"job_seeker"}),
        ("Partnerships lead", set()),
        ("", set()),
    ],
)
def test_roles_in_title(title, roles):
    assert roles_in_title(title) == roles


def test_blocked_user_ids_covers_both_directions(user):
    mine = BlockFactory(blocker=user).blocked
    theirs = BlockFactory(blocked=user).blocker
    BlockFactory()  # unrelated

    assert blocked_user_ids(user) == {mine.pk, theirs.pk}
