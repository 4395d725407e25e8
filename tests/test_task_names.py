"""Celery task names are stored by beat and in queued messages: moving code between apps must not change them."""

from __future__ import annotations

from django.conf import settings

from ibw.celery import app


def _registered() -> set[str]:
    app.loader.import_default_modules()
    return set(app.tasks)


def test_tasks_that_moved_apps_keep_their_names():
    assert {
        "integrations.handle_telegram_update",
        "integrations.send_bot_reply",
        "integrations.requeue_unhandled_updates",
        "integrations.enrich_user",
        "integrations.resume_enrichments",
    } <= _registered()


def test_every_beat_entry_names_a_registered_task():
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert names - _registered() == set()
