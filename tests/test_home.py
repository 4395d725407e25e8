"""``GET /`` names the service and links to the docs instead of a debug 404."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_root_answers_json_with_the_links(settings):
    settings.DEBUG = True

    response = Client().get("/")

    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
    body = response.json()
    assert (body["service"], body["docs"], body["schema"], body["admin"]) == (
        "IBW backend",
        "/api/docs/",
        "/api/schema/",
        "/admin/",
    )
    assert Client().get(body["docs"]).status_code == 200
    assert Client().get(body["schema"]).status_code == 200


def test_root_answers_a_page_of_links_to_a_browser():
    response = Client().get("/", HTTP_ACCEPT="text/html,application/xhtml+xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    for link in ('href="/api/docs/"', 'href="/api/schema/"', 'href="/admin/"'):
        assert link in page


def test_root_refuses_a_post_with_405():
    assert Client().post("/").status_code == 405
