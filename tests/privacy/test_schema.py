"""The privacy app serves ``users/me/`` (users' view plus DELETE) and the export; the schema shows both."""

from __future__ import annotations

import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from privacy.api.views import ExportView, MeView

pytestmark = pytest.mark.django_db


def test_the_contract_paths_resolve_to_the_privacy_views():
    assert resolve("/api/v1/users/me/").func.view_class is MeView
    assert resolve("/api/v1/users/me/export/").func.view_class is ExportView


def test_the_schema_shows_erasure_and_export_next_to_the_profile():
    paths = APIClient().get("/api/schema/?format=json").json()["paths"]

    assert sorted(paths["/api/v1/users/me/"]) == ["delete", "get", "patch"]
    assert "204" in paths["/api/v1/users/me/"]["delete"]["responses"]
    assert sorted(paths["/api/v1/users/me/export/"]) == ["get"]
