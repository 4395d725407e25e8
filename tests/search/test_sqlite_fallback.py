"""
``make run`` runs on SQLite: the search migrations must do nothing there and
``q`` must keep its substring match. The suite runs on PostgreSQL, so this
migrates a fresh SQLite file and searches it in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
from datetime import date, timedelta

from django.db import connection
from django.utils import timezone

from conferences.models import Conference, Session, Speaker, SessionSpeaker
from conferences.selectors import sessions_for_conference, speakers_for_conference

conference = Conference.objects.create(slug="x", name="x", starts_on=date(2030, 1, 1), ends_on=date(2030, 1, 2))
now = timezone.now()
talk = Session.objects.create(
    conference=conference, guid="1", title="Operators for Kubernetes", starts_at=now, ends_at=now
)
Speaker.objects.create(conference=conference, name="Zoë")
columns = [row[1] for row in connection.cursor().execute("PRAGMA table_info(conferences_session)").fetchall()]
print("vendor", connection.vendor)
print("search_vector column", "search_vector" in columns)
print("substring", [s.title for s in sessions_for_conference(conference, q="ubernete")])
print("words", [s.title for s in sessions_for_conference(conference, q="kubernetes operator")])
print("punctuation", [s.name for s in speakers_for_conference(conference, q="&|!():*")])
"""


@pytest.mark.slow
def test_sqlite_migrates_without_search_sql_and_keeps_substring_match(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DEBUG": "true",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)

    out = subprocess.run(
        [*manage, "shell", "-v0", "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    ).stdout.splitlines()

    assert out == [
        "vendor sqlite",
        "search_vector column False",
        "substring ['Operators for Kubernetes']",
        "words []",
        "punctuation []",
    ]
