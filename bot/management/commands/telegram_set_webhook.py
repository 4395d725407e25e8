from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bot.handlers import BOT_COMMANDS
from integrations import telegram


class Command(BaseCommand):
    help = (
        "Register <url> (https://<host>/api/v1/integrations/telegram/webhook/) as the bot's webhook, "
        "with TELEGRAM_WEBHOOK_SECRET as its secret token; --delete removes the webhook."
    )

    def add_arguments(self, parser):
        parser.add_argument("url", nargs="?", help="the public HTTPS URL of the webhook endpoint")
        parser.add_argument("--delete", action="store_true", help="remove the webhook (back to long polling)")

    def handle(self, *args, url: str | None, delete: bool, **options):
        if not telegram.is_enabled():
            raise CommandError("TELEGRAM_BOT_TOKEN is not set: the bot is disabled.")
        try:
            if delete:
                telegram.run(lambda client: client.delete_webhook())
                self.stdout.write("Webhook deleted.")
                return
            if not url:
                raise CommandError("Give the webhook URL, or --delete.")
            if not url.startswith("https://"):
                raise CommandError("Telegram only delivers to https:// URLs.")
            if not settings.TELEGRAM_WEBHOOK_SECRET:
                raise CommandError("Set TELEGRAM_WEBHOOK_SECRET first: the endpoint refuses every update without it.")

            async def register(client: telegram.TelegramClient) -> None:
                await client.set_webhook(url, secret_token=settings.TELEGRAM_WEBHOOK_SECRET)
                await client.set_my_commands(BOT_COMMANDS)

            telegram.run(register)
        except telegram.TelegramError as exc:
            raise CommandError(f"Telegram: {exc}") from exc
        self.stdout.write(f"Webhook set to {url}.")
