"""/next, /badge, setMyCommands, and the buttons under notifications sent on Telegram."""

from __future__ import annotations

import itertools
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from bot.handlers import BOT_COMMANDS, NOT_LINKED
from conferences.models import Bookmark
from conferences.services import send_session_reminders
from notifications.models import NotificationKind
from notifications.services import notify
from tests.factories import AttendanceFactory, ConferenceFactory, RoomFactory, SessionFactory, UserFactory
from tests.telegram import message_update
from users.models import User

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
_updates = itertools.count(900_000)


def _linked(telegram_id: int) -> User:
    return UserFactory(telegram_id=telegram_id, telegram_chat_id=telegram_id)


def test_next_answers_the_next_bookmarked_session_with_room_and_time(send_update, fake_telegram):
    user = _linked(7001)
    conference = ConferenceFactory(timezone="Europe/Berlin")
    now = timezone.now()
    room = RoomFactory(conference=conference, name="Hall <B>")
    later = SessionFactory(
        conference=conference, title="Later", starts_at=now + timedelta(hours=5), ends_at=now + timedelta(hours=6)
    )
    soon = SessionFactory(
        conference=conference,
        title="Rollups & more",
        room=room,
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
    )
    past = SessionFactory(conference=conference, title="Past", starts_at=now - timedelta(hours=1), ends_at=now)
    SessionFactory(
        conference=conference, title="Not mine", starts_at=now + timedelta(minutes=5), ends_at=now + timedelta(hours=1)
    )
    for session in (later, soon, past):
        Bookmark.objects.create(user=user, session=session)

    send_update(message_update("/next", telegram_id=7001))

    start, end = soon.starts_at.astimezone(BERLIN), soon.ends_at.astimezone(BERLIN)
    assert fake_telegram.sent_texts(7001) == [
        f"Next: <b>Rollups &amp; more</b>, {start:%a %H:%M}–{end:%H:%M} · Hall &lt;B&gt;"
    ]


def test_next_with_nothing_bookmarked_says_so(send_update, fake_telegram):
    _linked(7002)
    send_update(message_update("/next", telegram_id=7002))
    assert fake_telegram.sent_texts(7002) == ["Nothing ahead: no bookmarked session or meeting is coming up."]


def test_next_from_an_unknown_person_asks_for_start(send_update, fake_telegram):
    send_update(message_update("/next", telegram_id=7003))
    assert fake_telegram.sent_texts(7003) == [NOT_LINKED]


def test_badge_sends_the_qr_code_as_a_photo(send_update, fake_telegram):
    user = _linked(7004)
    attendance = AttendanceFactory(user=user, conference=ConferenceFactory(name="DevCon"))

    send_update(message_update("/badge", telegram_id=7004))

    [photo] = fake_telegram.calls_of("sendPhoto")
    assert int(photo.params["chat_id"]) == 7004
    assert photo.params["photo"][:8] == b"\x89PNG\r\n\x1a\n"
    assert photo.params["caption"] == f"Your badge for <b>DevCon</b>: {attendance.badge_code}"
    assert fake_telegram.sent_texts(7004) == []


def test_badge_without_registration_answers_in_words(send_update, fake_telegram):
    _linked(7005)
    send_update(message_update("/badge", telegram_id=7005))
    assert fake_telegram.sent_texts(7005) == ["You are not registered for a conference yet: register in the app first."]
    assert fake_telegram.calls_of("sendPhoto") == []


def test_set_webhook_registers_the_command_list(fake_telegram):
    call_command("telegram_set_webhook", "https://ibw.example.org/api/v1/integrations/telegram/webhook/")

    [call] = fake_telegram.calls_of("setMyCommands")
    assert call.params["commands"] == [{"command": c, "description": d} for c, d in BOT_COMMANDS]
    assert {"next", "badge", "agenda"} <= {c for c, _ in BOT_COMMANDS}


def _notify(user, kind, data, commit):
    with commit(execute=True):
        notify(user, kind=kind, title="t", body="b", data=data)


def test_a_notification_carries_a_deep_link_button(fake_telegram, django_capture_on_commit_callbacks, settings):
    settings.TELEGRAM_WEBAPP_URL = ""
    user = _linked(7006)
    _notify(
        user,
        NotificationKind.SESSION_CHANGED,
        {"conference": "devcon", "session": 12},
        django_capture_on_commit_callbacks,
    )
    _notify(user, NotificationKind.EVENT_MESSAGE, {"event": 5}, django_capture_on_commit_callbacks)
    _notify(
        user,
        NotificationKind.SESSION_CANCELLED,
        {"conference": "devcon", "session": 13},
        django_capture_on_commit_callbacks,
    )

    assert fake_telegram.sent_buttons(7006) == [
        [{"text": "Open", "url": "https://t.me/ibw_test_bot?start=session_12"}],
        [{"text": "Open", "url": "https://t.me/ibw_test_bot?start=event_5"}],
        [{"text": "Open", "url": "https://t.me/ibw_test_bot?start=conf_devcon"}],
    ]


def test_with_a_mini_app_the_button_opens_it(fake_telegram, django_capture_on_commit_callbacks, settings):
    settings.TELEGRAM_WEBAPP_URL = "https://app.ibw.example/tg"
    user = _linked(7007)
    _notify(user, NotificationKind.EVENT_CHANGED, {"event": 9}, django_capture_on_commit_callbacks)

    assert fake_telegram.sent_buttons(7007) == [
        [{"text": "Open", "web_app": {"url": "https://app.ibw.example/tg?startapp=event_9"}}]
    ]


def test_a_session_reminder_has_a_mute_button_that_mutes(
    fake_telegram, django_capture_on_commit_callbacks, send_update, settings
):
    settings.TELEGRAM_WEBAPP_URL = ""
    user = _linked(7008)
    now = timezone.now()
    session = SessionFactory(starts_at=now + timedelta(minutes=5), ends_at=now + timedelta(minutes=35))
    Bookmark.objects.create(user=user, session=session)

    with django_capture_on_commit_callbacks(execute=True):
        assert send_session_reminders(now=now) == 1

    [buttons] = fake_telegram.sent_buttons(7008)
    assert buttons == [
        {"text": "Open", "url": f"https://t.me/ibw_test_bot?start=session_{session.pk}"},
        {"text": "🔕 Mute reminders", "callback_data": "mute_reminders"},
    ]

    send_update(
        {
            "update_id": next(_updates),
            "callback_query": {
                "id": "cb1",
                "from": {"id": 7008, "is_bot": False, "first_name": "Ada"},
                "message": {"message_id": 1, "date": 0, "chat": {"id": 7008, "type": "private"}},
                "chat_instance": "1",
                "data": "mute_reminders",
            },
        }
    )

    user.refresh_from_db()
    assert (user.session_reminders, user.notify_telegram) == (False, True)
    assert fake_telegram.sent_texts(7008)[-1] == "Session reminders are off. Send /unmute to turn them on again."
    other = SessionFactory(starts_at=now + timedelta(minutes=6), ends_at=now + timedelta(minutes=36))
    Bookmark.objects.create(user=user, session=other)
    assert send_session_reminders(now=now) == 0  # muted

    send_update(message_update("/unmute", telegram_id=7008))
    user.refresh_from_db()
    assert user.session_reminders is True
    assert send_session_reminders(now=now) == 1


def test_a_notification_deep_link_opens_the_session_in_the_chat(send_update, fake_telegram):
    conference = ConferenceFactory(timezone="Europe/Berlin", slug="devcon", name="DevCon")
    starts = timezone.now().replace(microsecond=0) + timedelta(days=1)
    session = SessionFactory(
        conference=conference,
        title="Rollups",
        room=RoomFactory(conference=conference, name="Hall B"),
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
    )

    send_update(message_update(f"/start session_{session.pk}", telegram_id=7010))
    send_update(message_update("/start conf_devcon", telegram_id=7010))

    local = starts.astimezone(BERLIN)
    end = (starts + timedelta(minutes=30)).astimezone(BERLIN)
    assert fake_telegram.sent_texts(7010) == [
        f"<b>Rollups</b>\n{local:%a %-d %b, %H:%M}–{end:%H:%M} · Hall B",
        "<b>DevCon</b>\nSend /agenda for today's sessions, /next for your next one.",
    ]
    assert User.objects.get(telegram_id=7010).telegram_chat_id == 7010  # the chat is linked too


def test_a_deep_link_to_something_gone_is_the_usual_greeting(send_update, fake_telegram):
    send_update(message_update("/start session_999999", telegram_id=7011))
    [text] = fake_telegram.sent_texts(7011)
    assert text.startswith("Hello, <b>Ada</b>!")
