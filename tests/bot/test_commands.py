"""``manage.py telegram_bot`` (long polling) and ``manage.py telegram_set_webhook``."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from bot.models import ProcessedUpdate
from tests.factories import UserFactory
from tests.telegram import WEBHOOK_SECRET as SECRET
from tests.telegram import message_update
from users.models import User


@pytest.mark.django_db(transaction=True)
def test_telegram_bot_polls_updates_and_runs_the_same_handlers(fake_telegram):
    UserFactory(telegram_id=3101, telegram_chat_id=3101)
    fake_telegram.updates = [
        message_update("/mute", telegram_id=3101, update_id=900),
        message_update("/start", telegram_id=3102, first_name="Lin", update_id=901),
    ]

    call_command("telegram_bot", "--once", "--timeout", "0")

    assert len(fake_telegram.calls_of("deleteWebhook")) == 1
    assert int(fake_telegram.calls_of("getUpdates")[0].params.get("timeout", 0)) == 0
    assert User.objects.get(telegram_id=3101).notify_telegram is False
    assert User.objects.get(telegram_id=3102).telegram_chat_id == 3102
    assert fake_telegram.sent_texts(3101) == ["Notifications muted. Send /unmute to get them here again."]
    assert fake_telegram.sent_texts(3102)[0].startswith("Hello, <b>Lin</b>!")
    assert set(ProcessedUpdate.objects.values_list("update_id", flat=True)) == {900, 901}


@pytest.mark.django_db(transaction=True)
def test_telegram_bot_does_not_act_twice_on_an_update_seen_before(fake_telegram):
    UserFactory(telegram_id=3103, telegram_chat_id=3103)
    fake_telegram.updates = [message_update("/mute", telegram_id=3103, update_id=902)]

    call_command("telegram_bot", "--once", "--timeout", "0")
    call_command("telegram_bot", "--once", "--timeout", "0")

    assert fake_telegram.sent_texts(3103) == ["Notifications muted. Send /unmute to get them here again."]


def test_telegram_bot_without_token_refuses_to_start(settings):
    settings.TELEGRAM_BOT_TOKEN = ""

    with pytest.raises(CommandError, match="TELEGRAM_BOT_TOKEN"):
        call_command("telegram_bot", "--once")


def test_set_webhook_registers_the_url_with_the_secret(fake_telegram):
    url = "https://ibw.example.org/api/v1/integrations/telegram/webhook/"

    call_command("telegram_set_webhook", url)

    [call] = fake_telegram.calls_of("setWebhook")
    assert call.params["url"] == url
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ["message", "my_chat_member", "callback_query", "chat_join_request"]


def test_set_webhook_refuses_without_a_secret(fake_telegram, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = ""

    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_SECRET"):
        call_command("telegram_set_webhook", "https://ibw.example.org/hook/")

    assert fake_telegram.calls_of("setWebhook") == []


def test_set_webhook_refuses_plain_http(fake_telegram):
    with pytest.raises(CommandError, match="https"):
        call_command("telegram_set_webhook", "http://ibw.example.org/hook/")


def test_set_webhook_delete(fake_telegram):
    call_command("telegram_set_webhook", "--delete")

    assert len(fake_telegram.calls_of("deleteWebhook")) == 1
