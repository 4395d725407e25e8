"""
``python manage.py import_schedule <conference-slug> <file-or-url> [--create]``

Imports a frab-compatible ``schedule.json`` (a path, or an http(s) URL
fetched with httpx) through the same service as the API, and prints the
counts as JSON. ``--create`` first creates the conference from the file's
title, dates and time zone when the slug is new.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from conferences.models import Conference
from conferences.services import conference_from_schedule, import_schedule, load_schedule
from ibw.errors import ApplicationError


class Command(BaseCommand):
    help = "Import a frab/pretalx schedule.json (file or URL) into a conference."

    def add_arguments(self, parser) -> None:
        parser.add_argument("conference", help="the conference's slug")
        parser.add_argument("source", help="a schedule.json path or an http(s) URL")
        parser.add_argument(
            "--create", action="store_true", help="create the conference from the file when the slug is new"
        )

    def handle(self, *args, conference: str, source: str, create: bool, **options) -> None:
        try:
            data = load_schedule(source)
            target = Conference.objects.filter(slug=conference).first()
            if target is None:
                if not create:
                    raise CommandError(f"No conference '{conference}' (pass --create to make it from the file).")
                target = conference_from_schedule(conference, data)
                self.stderr.write(f"Created conference '{target.slug}' ({target.name}).")
            counts = import_schedule(target, data)
        except ApplicationError as exc:
            problems = (exc.details or {}).get("schedule", [])
            raise CommandError("\n".join([exc.message, *problems[1:]])) from exc
        self.stdout.write(json.dumps(counts))
