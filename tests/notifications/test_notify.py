"""``notify``: in-app rows, socket push after commit, Telegram copies from a task."""

from __future__ import annotations

import html
import re

import pytest
from django.db import transaction
from django.utils import timezone

from events.models import RSVP, RSVPStatus
from events.services import delete_event
from integrations.telegram_sender import telegram_parts
from notifications.models import Notification, NotificationKind, TelegramDelivery
from notifications.services import notify
from tests.factories import EventFactory, UserFactory
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


# --- the contract --------------------------------------------------------------------


CONTRACT_KINDS = {
    "broadcast",
    "session_reminder",
    "session_changed",
    "session_cancelled",
    "event_changed",
    "event_cancelled",
    "event_message",
    "waitlist_promoted",
    "connection_request",
    "connection_accepted",
    "meeting_requested",
    "meeting_accepted",
    "meeting_declined",
    "meeting_cancelled",
    "meeting_reminder",
    "submission_reviewed",
    "sprint_won",
    "chat_unlinked",
}


def test_kinds_are_exactly_the_contracts():
    # API contract v1.2, Conventions: every notification has a kind from this list.
    assert set(NotificationKind.values) == CONTRACT_KINDS


def test_notify_refuses_a_kind_outside_the_contract(user):
    with pytest.raises(ValueError, match="review"):
        notify(user, kind="review", title="t")

    assert Notification.objects.count() == 0


def test_notify_cuts_titles_to_200_characters(user):
    [long] = notify(user, kind=NotificationKind.EVENT_CANCELLED, title="Cancelled: " + "x" * 300)
    [exact] = notify(user, kind=NotificationKind.EVENT_CANCELLED, title="y" * 200)

    assert Notification.objects.get(pk=long.pk).title == "Cancelled: " + "x" * 188 + "…"
    assert Notification.objects.get(pk=exact.pk).title == "y" * 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rolled_back", [True, False])
def test_a_callers_rollback_sends_nothing_anywhere(fake_telegram, rolled_back):
    # Real commits (no test transaction around): Celery runs eagerly, so an
    # enqueued Telegram task would reach the fake Bot API at once.
    guest = telegram_user()
    event = EventFactory()
    RSVP.objects.create(event=event, user=guest, status=RSVPStatus.GOING)

    try:
        with transaction.atomic():
            delete_event(event)  # notifies the guest inside this transaction
            if rolled_back:
                raise RuntimeError("the caller failed after notify")
    except RuntimeError:
        pass

    if rolled_back:
        assert Notification.objects.count() == 0
        assert TelegramDelivery.objects.count() == 0
        assert fake_telegram.calls_of("sendMessage") == []
    else:
        assert Notification.objects.get(user=guest).data == {"event": event.pk}
        assert list(TelegramDelivery.objects.values_list("state", flat=True)) == ["sent"]
        assert fake_telegram.sent_texts(guest.telegram_chat_id) == [
            f"<b>Cancelled: {event.title}</b>\n\n{event.title} will not take place."
        ]
