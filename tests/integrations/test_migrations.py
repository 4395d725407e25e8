"""
The models that left ``integrations`` (issue #11) keep their tables and rows:
EnrichmentRun and AIUsage now belong to ``users``, ProcessedUpdate to ``bot``.
"""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("users", "0001_initial"), ("integrations", "0001_initial"), ("bot", None)]
MOVED = {"enrichmentrun": "users", "aiusage": "users", "processedupdate": "bot"}


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_moving_the_models_out_of_integrations_keeps_every_row_and_permission():
    executor = _migrate(BEFORE)
    try:
        old = executor.loader.project_state([("users", "0001_initial"), ("integrations", "0001_initial")]).apps
        ContentType = old.get_model("contenttypes", "ContentType")
        Permission = old.get_model("auth", "Permission")
        # The database as it was: content types under integrations (migrating back relabelled any), none
        # under the new apps.
        ContentType.objects.filter(model__in=MOVED, app_label__in=set(MOVED.values())).delete()
        old_types = {
            model: ContentType.objects.get_or_create(app_label="integrations", model=model)[0] for model in MOVED
        }
        permission, _ = Permission.objects.get_or_create(
            codename="view_enrichmentrun",
            content_type=old_types["enrichmentrun"],
            defaults={"name": "Can view enrichment run"},
        )
        user = old.get_model("users", "User").objects.create(email="ada@example.org", telegram_id=77)
        EnrichmentRun = old.get_model("integrations", "EnrichmentRun")
        runs = [
            EnrichmentRun.objects.create(user=user, trigger="request", status="done", ai_called=True),
            EnrichmentRun.objects.create(user=user, trigger="profile", status="pending"),
        ]
        old.get_model("integrations", "AIUsage").objects.create(day=datetime.date(2026, 11, 20), calls=7)
        old.get_model("integrations", "ProcessedUpdate").objects.create(update_id=123456, payload={"update_id": 123456})
    finally:
        executor.loader.build_graph()
        _migrate(executor.loader.graph.leaf_nodes())

    from bot.models import ProcessedUpdate
    from users.models import AIUsage, EnrichmentRun

    assert list(
        EnrichmentRun.objects.order_by("pk").values_list("pk", "user_id", "trigger", "status", "ai_called")
    ) == [
        (runs[0].pk, user.pk, "request", "done", True),
        (runs[1].pk, user.pk, "profile", "pending", False),
    ]
    assert list(AIUsage.objects.values_list("day", "calls")) == [(datetime.date(2026, 11, 20), 7)]
    assert list(ProcessedUpdate.objects.values_list("update_id", "payload", "handled_at")) == [
        (123456, {"update_id": 123456}, None)
    ]
    # New rows continue the same sequences.
    assert EnrichmentRun.objects.create(user_id=user.pk, trigger="admin").pk > runs[1].pk

    from django.contrib.auth.models import Permission as CurrentPermission
    from django.contrib.contenttypes.models import ContentType as CurrentContentType

    moved_types = CurrentContentType.objects.filter(pk__in=[t.pk for t in old_types.values()])
    assert {(t.model, t.app_label) for t in moved_types} == set(MOVED.items())
    assert CurrentPermission.objects.get(pk=permission.pk).content_type.app_label == "users"
