"""The ``session_bookmarked`` broadcast segment: the people who bookmarked one session."""

from __future__ import annotations

import pytest

from broadcasts.models import Broadcast
from conferences.models import Bookmark
from notifications.models import Notification
from tests.factories import ConferenceFactory, SessionFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/admin/broadcasts/"


@pytest.fixture
def session():
    return SessionFactory(conference=ConferenceFactory(slug="devcon"))


def _bookmark(session, n):
    people = UserFactory.create_batch(n)
    for person in people:
        Bookmark.objects.create(user=person, session=session)
    return people


def test_preview_counts_the_session_bookmarkers(admin_api, session):
    _bookmark(session, 3)
    _bookmark(SessionFactory(conference=session.conference), 2)
    inactive = UserFactory(is_active=False)
    Bookmark.objects.create(user=inactive, session=session)

    response = admin_api.post(
        URL + "preview/", {"audience": {"segment": "session_bookmarked", "session": session.pk}}, format="json"
    )

    assert (response.status_code, response.json()) == (200, {"total": 3})


def test_a_broadcast_reaches_exactly_the_bookmarkers(admin_api, session, django_capture_on_commit_callbacks):
    people = _bookmark(session, 2)
    UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            URL,
            {
                "title": "Room change",
                "body": "Hall B",
                "audience": {"conference": "devcon", "segment": "session_bookmarked", "session": session.pk},
                "channels": ["in_app"],
            },
            format="json",
        )

    assert response.status_code == 201
    broadcast = Broadcast.objects.get()
    assert broadcast.audience == {"conference": "devcon", "segment": "session_bookmarked", "session": session.pk}
    assert sorted(Notification.objects.filter(kind="broadcast").values_list("user_id", flat=True)) == sorted(
        p.pk for p in people
    )


@pytest.mark.parametrize(
    ("audience", "field"),
    [
        ({"segment": "session_bookmarked"}, "session"),
        ({"segment": "session_bookmarked", "session": 999999}, "session"),
    ],
)
def test_a_missing_or_unknown_session_is_a_400(admin_api, audience, field):
    response = admin_api.post(URL + "preview/", {"audience": audience}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert field in str(response.json()["details"])


def test_a_session_of_another_conference_is_a_400(admin_api, session):
    ConferenceFactory(slug="other")
    response = admin_api.post(
        URL + "preview/",
        {"audience": {"conference": "other", "segment": "session_bookmarked", "session": session.pk}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "The session is not part of this conference."
