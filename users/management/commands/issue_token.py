"""
``python manage.py issue_token <telegram_id or email>``: an access and a
refresh token for a user, so the API can be tried without a Telegram bot.
``--create`` makes a demo attendee when nobody has that id or email.
"""

from __future__ import annotations

import shlex

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.services import ensure_demo_attendee, find_user, issue_tokens


class Command(BaseCommand):
    help = "Print an access and a refresh token for the user with this Telegram id or email."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("identifier", help="a Telegram id (digits) or an email address")
        parser.add_argument(
            "--create", action="store_true", help="create a demo attendee with this Telegram id or email if missing"
        )
        parser.add_argument(
            "--base-url", default=None, help="where the API answers, for the curl example (default PUBLIC_BASE_URL)"
        )

    def handle(self, *args, identifier: str, create: bool, base_url: str | None, **options) -> None:
        try:
            if create:
                user, created = ensure_demo_attendee(identifier)
            else:
                user, created = find_user(identifier), False
        except ValueError as exc:
            raise CommandError(f"{identifier!r}: {exc}") from None
        if user is None:
            raise CommandError(f"No user has the Telegram id or email {identifier!r}; add --create to make one.")
        if not user.is_active:
            raise CommandError(f"User {user.pk} is deactivated: their tokens would be refused.")
        tokens = issue_tokens(user)
        base = (base_url or settings.PUBLIC_BASE_URL).rstrip("/")
        who = f"telegram_id {user.telegram_id}" if user.telegram_id else user.email
        minutes = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() // 60)
        header = shlex.quote(f"Authorization: Bearer {tokens['access']}")
        self.stdout.write(
            f"{'Created' if created else 'User'} {user.pk}: {user.get_display_name()} ({who})\n"
            f"access  {tokens['access']}\n"
            f"refresh {tokens['refresh']}\n"
            f"The access token lasts {minutes} minutes; POST the refresh token to {base}/api/v1/auth/token/refresh/ "
            "for a new pair.\n"
            f"Try it:\n  curl -H {header} {base}/api/v1/users/me/\n"
        )
