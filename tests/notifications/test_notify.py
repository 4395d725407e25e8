"""``notify``: in-app rows, socket push after commit, Telegram copies from a task."""

from __future__ import annotations

import html
import re

import pytest
from django.db import transaction
from django.utils import timezone

from integrations.telegram_sender import telegram_parts
from notifications.models import Notification, TelegramDelivery
from notifications.services import notify
from tests.factories import UserFactory
from tests.notifications.conftest import telegram_user

pytestmark = pytest.mark.django_db


def test_notify_stores_one_row_per_user(user):
    other = UserFactory()

    created = notify([user, other], kind="session_reminder", title="Starts soon", body="Room A", data={"session": 3})

    assert len(created) == 2
    assert list(Notification.objects.filter(user=user).values("kind", "title", "body", "data", "read_at")) == [
        {"kind": "session_reminder", "title": "Starts soon", "body": "Room A", "data": {"session": 3}, "read_at": None}
    ]
    assert Notification.objects.filter(user=other).count() == 1


def test_notify_accepts_a_single_user_and_a_queryset(user):
    notify(user, kind="session_reminder", title="one")
    notify(type(user).objects.filter(pk=user.pk), kind="session_reminder", title="two")

    assert sorted(Notification.objects.filter(user=user).values_list("title", flat=True)) == ["one", "two"]


def test_notify_with_no_users_does_nothing(db):
    assert notify([], kind="session_reminder", title="t") == []


def test_notify_sends_telegram_to_users_who_can_receive_it(fake_telegram, user, django_capture_on_commit_callbacks):
    linked = telegram_user()
    muted = telegram_user(notify_telegram=False)
    blocked = telegram_user(telegram_blocked_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        notify([user, linked, muted, blocked], kind="submission_reviewed", title="Accepted <3", body="Tom & Jerry")

    assert fake_telegram.sent_texts(linked.telegram_chat_id) == ["<b>Accepted &lt;3</b>\n\nTom &amp; Jerry"]
    assert len(fake_telegram.calls_of("sendMessage")) == 1
    assert list(TelegramDelivery.objects.values_list("user_id", "state")) == [(linked.pk, "sent")]
    assert Notification.objects.count() == 4


def test_notify_in_app_only_skips_telegram(fake_telegram, tg_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify(tg_user, kind="session_reminder", title="quiet", channels=["in_app"])

    assert fake_telegram.calls_of("sendMessage") == []
    assert Notification.objects.filter(user=tg_user).count() == 1


def test_notify_rolled_back_sends_nothing(fake_telegram, tg_user, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notify(tg_user, kind="session_reminder", title="never")
        raise RuntimeError("caller failed")

    assert callbacks == []
    assert Notification.objects.count() == 0
    assert fake_telegram.calls_of("sendMessage") == []


def test_notify_pushes_only_after_commit(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        notify(user, kind="session_reminder", title="t")

    # One callback pushes to the socket (no Telegram: the user has no chat).
    assert len(callbacks) == 1


def test_telegram_parts_escape_and_split():
    long_body = ("word " * 1000).strip()

    parts = telegram_parts("A <b> title", long_body)

    assert parts[0].startswith("<b>A &lt;b&gt; title</b>\n\nword word")
    assert len(parts) == 2
    # Telegram's limit counts the text after parsing the HTML entities and tags.
    assert all(len(html.unescape(re.sub("<[^>]+>", "", p))) <= 4096 for p in parts)
    assert sum(p.count("word") for p in parts) == 1000
