"""The real python-telegram-bot client against the fake Bot API server."""

from __future__ import annotations

import pytest

from integrations import telegram


def test_send_message_reaches_the_bot_api(fake_telegram):
    message_id = telegram.send_message(42, "<b>Hello</b> &amp; welcome")

    calls = fake_telegram.calls_of("sendMessage")
    assert message_id == 1
    assert len(calls) == 1
    assert int(calls[0].params["chat_id"]) == 42
    assert calls[0].params["text"] == "<b>Hello</b> &amp; welcome"
    assert calls[0].params["parse_mode"] == "HTML"
    assert calls[0].token.endswith("TEST-bot-token-for-ibw-tests")


def test_429_becomes_retry_after(fake_telegram):
    fake_telegram.fail("sendMessage", 429, retry_after=7)

    with pytest.raises(telegram.TelegramRetryAfter) as raised:
        telegram.send_message(42, "hi")

    assert raised.value.retry_after == 7


def test_403_becomes_forbidden(fake_telegram):
    fake_telegram.blocked_chats.add(42)

    with pytest.raises(telegram.TelegramForbidden):
        telegram.send_message(42, "hi")


def test_500_becomes_unavailable(fake_telegram):
    fake_telegram.fail("sendMessage", 500)

    with pytest.raises(telegram.TelegramUnavailable):
        telegram.send_message(42, "hi")


def test_server_down_is_unavailable(settings):
    from ibw.embedded import free_port

    settings.TELEGRAM_API_BASE_URL = f"http://127.0.0.1:{free_port()}/bot"

    with pytest.raises(telegram.TelegramUnavailable):
        telegram.send_message(42, "hi")


def test_get_chat_member_status(fake_telegram):
    fake_telegram.chat_members[("-1001", 7)] = "member"

    assert telegram.get_chat_member_status(-1001, 7) == "member"
    assert telegram.get_chat_member_status(-1001, 8) == "left"


def test_no_token_is_disabled(settings):
    settings.TELEGRAM_BOT_TOKEN = ""

    with pytest.raises(telegram.TelegramDisabled):
        telegram.send_message(42, "hi")


def test_split_message_keeps_every_character_under_the_limit():
    text = ("word " * 3000).strip()

    chunks = telegram.split_message(text, limit=4096)

    assert all(len(c) <= 4096 for c in chunks)
    assert " ".join(chunks) == text
    assert telegram.split_message("short") == ["short"]
