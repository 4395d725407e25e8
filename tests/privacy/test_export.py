"""GET /api/v1/users/me/export/: everything stored about the caller, and nobody else's data."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from conferences.services import bookmark_session
from notifications.models import Notification
from privacy.registry import EXTRAS, HOLDINGS
from tests.conftest import client_for
from tests.factories import SessionFactory, UserFactory
from tests.privacy.world import build_world

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/users/me/export/"


@pytest.fixture
def world(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return build_world()


def test_export_holds_each_kind_of_their_data(world):
    response = client_for(world.person).get(EXPORT)

    assert response.status_code == 200
    body = response.json()
    assert (body["format"], body["user_id"]) == ("ibw-export/1", world.person.pk)
    assert body["profile"]["display_name"] == "Erin Erased"
    assert body["profile"]["telegram_id"] == world.person.telegram_id
    assert "password" not in body["profile"]
    sections = {h.section for h in HOLDINGS} | {e.section for e in EXTRAS}
    assert [name for name in sorted(sections) if not body[name]] == []
    # The contract's list, by name.
    for name in ("attendance", "bookmarks", "rsvps", "submissions", "points", "connections", "meetings"):
        assert body[name], name
    assert [q["text"] for q in body["questions"]] == ["Will my data be erased?"]
    assert [(f["rating"], f["comment"]) for f in body["feedback"]] == [(5, "Great talk")]
    assert "For Erin" in [n["title"] for n in body["notifications"]]
    assert sorted(p["points"] for p in body["points"]) == [7, 10]
    assert {c["message"] for c in body["connections"]} == {"Hi Olga", "Hi Erin"}
    assert body["attendance"][0]["conference_slug"] == world.conference.slug
    assert body["telegram_updates"][0]["payload"]["message"]["text"] == "/agenda"


def test_export_contains_nothing_of_another_person(world):
    other = world.other
    Notification.objects.create(user=other, kind="broadcast", title="Olga's private note")

    body = client_for(world.person).get(EXPORT).json()

    text = json.dumps(body)
    assert "Olga's private note" not in text
    assert "Olga's question" not in text
    assert other.telegram_id != body["profile"]["telegram_id"]
    # Who blocked them stays the blocker's secret.
    assert body["blocked_by"] == [{"created_at": body["blocked_by"][0]["created_at"]}]


def test_export_of_a_person_with_nothing_has_every_section_empty(user):
    body = client_for(user).get(EXPORT).json()

    assert body["bookmarks"] == body["notifications"] == body["points"] == []


def test_export_needs_a_logged_in_user(db):
    response = APIClient().get(EXPORT)

    assert (response.status_code, response.json()["code"]) == (401, "NOT_AUTHENTICATED")


@pytest.mark.parametrize("items", [1, 5])
def test_export_query_count_does_not_grow_with_the_data(items, django_assert_max_num_queries):
    user = UserFactory()
    for _ in range(items):
        bookmark_session(SessionFactory(), user=user)
        Notification.objects.create(user=user, kind="broadcast", title="hello")
    api = client_for(user)

    with django_assert_max_num_queries(len(HOLDINGS) + len(EXTRAS) + 5):
        body = api.get(EXPORT).json()

    assert (len(body["bookmarks"]), len(body["notifications"])) == (items, items)
