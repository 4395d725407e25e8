"""``python manage.py rebuild_leaderboard``: recompute the Redis leaderboards from the points ledger."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from quests import leaderboard


class Command(BaseCommand):
    help = "Rebuild the global and per-conference leaderboards in Redis from the points ledger."

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        sizes = leaderboard.rebuild()
        for key, size in sorted(sizes.items()):
            self.stdout.write(f"{key}: {size} users")
        self.stdout.write(
            self.style.SUCCESS(f"Rebuilt {len(sizes)} leaderboards in {time.monotonic() - started:.2f} s.")
        )
