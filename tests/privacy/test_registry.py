"""Every user field of every model is declared for erasure and export (privacy.registry)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import models
from django.db.models.deletion import Collector
from django.test.utils import isolate_apps

from privacy.registry import EXTRAS, HOLDINGS, Erase, uncovered, user_fields
from privacy.services import erase_person_rows
from tests.privacy.world import build_world


def test_every_user_field_is_covered_by_erasure_and_export():
    assert uncovered() == []


def test_the_check_finds_the_user_fields_it_must_cover():
    found = set(user_fields())

    assert {"conferences.Bookmark.user", "quests.PointsEntry.user", "quests.Invitation.invitee"} <= found
    assert {h.key for h in HOLDINGS} == found


def test_the_check_reports_a_registry_entry_left_out():
    without_bookmarks = [h for h in HOLDINGS if h.key != "conferences.Bookmark.user"]

    assert uncovered(without_bookmarks) == ["conferences.Bookmark.user: erasure, export"]


@isolate_apps("privacy")
def test_the_check_reports_a_new_model_with_a_user_foreign_key_one_to_one_or_many_to_many():
    class Diary(models.Model):
        author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
        twin = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
        readers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+")
        title = models.CharField(max_length=10)

        class Meta:
            app_label = "privacy"

        def __str__(self) -> str:
            return self.title

    assert uncovered(HOLDINGS, [Diary]) == [
        "privacy.Diary.author: erasure, export",
        "privacy.Diary.twin: erasure, export",
        "privacy.Diary.readers: erasure, export",
    ]


def test_kept_rows_are_only_declared_on_nullable_fields():
    for holding in HOLDINGS:
        if holding.erase is not Erase.DELETE:
            assert holding.model._meta.get_field(holding.field).null, holding.key


def test_every_section_name_is_its_own_or_shared_by_one_model():
    by_section: dict[str, set[str]] = {}
    for holding in HOLDINGS:
        by_section.setdefault(holding.section, set()).add(holding.model._meta.label)
    assert all(len(labels) == 1 for labels in by_section.values()), by_section
    assert not {e.section for e in EXTRAS} & set(by_section)


@pytest.mark.django_db
def test_the_registry_alone_leaves_nothing_for_the_database_cascade(django_capture_on_commit_callbacks):
    """After the registry ran, deleting the user row deletes or updates nothing else: each row was handled explicitly."""
    with django_capture_on_commit_callbacks(execute=True):
        world = build_world()
    erase_person_rows(world.person)

    collector = Collector(using="default")
    collector.collect([world.person])

    assert {model._meta.label: len(rows) for model, rows in collector.data.items()} == {"users.User": 1}
    assert all(not qs.exists() for updates in collector.field_updates.values() for qs in updates)
    assert all(not qs.exists() for qs in collector.fast_deletes)
