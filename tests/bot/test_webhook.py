"""The Telegram webhook and the bot's commands, with real Update JSON and the fake Bot API."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery import signals
from django.db import connection
from django.utils import timezone

from bot.handlers import HELP, NOT_LINKED
from bot.models import ProcessedUpdate
from ibw.celery import app as celery_app
from tests.factories import (
    AttendanceFactory,
    ConferenceFactory,
    RoomFactory,
    SessionFactory,
    UserFactory,
)
from tests.telegram import WEBHOOK, message_update
from tests.telegram import WEBHOOK_SECRET as SECRET
from users.models import User

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


# --- the endpoint ---------------------------------------------------------------------


def test_webhook_without_secret_header_is_403(send_update, fake_telegram):
    response = send_update(message_update("/start"), secret=None)

    assert response.status_code == 403
    assert response.json() == {"error": "The webhook secret is missing or wrong.", "code": "PERMISSION_DENIED"}
    assert not ProcessedUpdate.objects.exists()
    assert fake_telegram.calls_of("sendMessage") == []


def test_webhook_wrong_secret_is_403(send_update, fake_telegram):
    response = send_update(message_update("/start"), secret="not-the-secret")

    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"
    assert not User.objects.exists()


def test_webhook_with_secret_unset_refuses_everything(send_update, settings, fake_telegram):
    settings.TELEGRAM_WEBHOOK_SECRET = ""

    response = send_update(message_update("/start"), secret="")

    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"


def test_webhook_body_that_is_not_an_update_is_400(send_update, fake_telegram):
    response = send_update({"message": {"text": "/start"}})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "update_id" in response.json()["details"]


def test_webhook_repeated_update_is_acted_on_once(send_update, fake_telegram):
    update = message_update("/start")

    first = send_update(update)
    second = send_update(update)

    assert (first.status_code, first.json()) == (200, {"ok": True})
    assert (second.status_code, second.json()) == (200, {"ok": True})
    assert ProcessedUpdate.objects.filter(update_id=update["update_id"]).count() == 1
    assert len(fake_telegram.calls_of("sendMessage")) == 1


def test_webhook_is_not_throttled(send_update, fake_telegram):
    # More than THROTTLE_ANON (120/min) updates from one address in a burst.
    statuses = {send_update({"update_id": 50_000 + n}).status_code for n in range(125)}

    assert statuses == {200}


def test_webhook_concurrent_deliveries_of_one_update_act_once(fake_telegram, settings, transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's concurrent transactions")
    from rest_framework.test import APIClient

    update = message_update("/mute", telegram_id=777)
    UserFactory(telegram_id=777, telegram_chat_id=777)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def deliver() -> None:
        barrier.wait()
        try:
            response = APIClient().post(WEBHOOK, update, format="json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET)
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200, 200, 200, 200]
    assert ProcessedUpdate.objects.filter(update_id=update["update_id"]).count() == 1
    assert len(fake_telegram.calls_of("sendMessage")) == 1


# --- /start ------------------------------------------------------------------------


def test_start_login_token_makes_the_bot_login_poll_return_tokens(api, send_update, fake_telegram):
    login = api.post("/api/v1/auth/telegram/bot-login/").json()
    assert api.get(f"/api/v1/auth/telegram/bot-login/{login['token']}/").json() == {"status": "pending"}

    response = send_update(message_update(f"/start login_{login['token']}", telegram_id=4242, first_name="Ada"))

    assert response.status_code == 200
    poll = api.get(f"/api/v1/auth/telegram/bot-login/{login['token']}/")
    body = poll.json()
    assert poll.status_code == 200
    assert body["status"] == "confirmed"
    assert body["access"] and body["refresh"]
    assert body["user"]["telegram_id"] == 4242
    me = api.get("/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.json()["telegram_id"] == 4242
    assert User.objects.get(telegram_id=4242).telegram_chat_id == 4242
    assert fake_telegram.sent_texts(4242) == ["You are logged in as <b>Ada</b>. Go back to the app to continue."]


def test_start_with_unknown_login_token_answers_plainly(send_update, fake_telegram):
    send_update(message_update("/start login_nope", telegram_id=4243))

    assert fake_telegram.sent_texts(4243) == ["This login link is unknown. Start a new login in the app."]


def test_start_with_expired_login_token_answers_plainly(api, send_update, fake_telegram, settings):
    settings.BOT_LOGIN_TOKEN_TTL = 0
    token = api.post("/api/v1/auth/telegram/bot-login/").json()["token"]

    send_update(message_update(f"/start login_{token}", telegram_id=4244))

    [text] = fake_telegram.sent_texts(4244)
    assert text.endswith("Start a new login in the app.")
    assert "expired" in text


def test_plain_start_creates_the_user_and_links_the_chat(send_update, fake_telegram):
    send_update(message_update("/start", telegram_id=5150, first_name="Grace", username="grace"))

    user = User.objects.get(telegram_id=5150)
    assert (user.username, user.first_name, user.telegram_chat_id, user.notify_telegram) == (
        "grace",
        "Grace",
        5150,
        True,
    )
    assert fake_telegram.sent_texts(5150) == [
        "Hello, <b>Grace</b>! This chat is linked to your IBW account; notifications will arrive here.\n\n" + HELP
    ]


def test_plain_start_clears_an_earlier_block(send_update, fake_telegram):
    user = UserFactory(telegram_id=5151, telegram_chat_id=None, telegram_blocked_at=timezone.now())

    send_update(message_update("/start", telegram_id=5151))

    user.refresh_from_db()
    assert (user.telegram_chat_id, user.telegram_blocked_at) == (5151, None)
    assert user.can_receive_telegram


def test_start_escapes_html_in_names(send_update, fake_telegram):
    send_update(message_update("/start", telegram_id=5152, first_name="<b>Eve</b> & co"))

    [text] = fake_telegram.sent_texts(5152)
    assert text.startswith("Hello, <b>&lt;b&gt;Eve&lt;/b&gt; &amp; co</b>!")


def test_start_in_a_group_does_not_link_the_group(send_update, fake_telegram):
    send_update(message_update("/start", telegram_id=5153, chat_id=-100123, chat_type="supergroup"))

    assert not User.objects.filter(telegram_id=5153).exists()
    assert fake_telegram.sent_texts(-100123) == ["Please send me this command in a private chat."]


def test_plain_text_in_private_chat_gets_help(send_update, fake_telegram):
    send_update(message_update("hello?", telegram_id=5154))

    assert fake_telegram.sent_texts(5154) == [HELP]


def test_plain_text_in_a_group_is_ignored(send_update, fake_telegram):
    response = send_update(message_update("hello all", telegram_id=5155, chat_id=-100124, chat_type="group"))

    assert response.status_code == 200
    assert fake_telegram.calls_of("sendMessage") == []


def test_update_without_message_is_acknowledged_and_ignored(send_update, fake_telegram):
    response = send_update({"update_id": 60_001, "edited_message": {"message_id": 1, "text": "x"}})

    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert fake_telegram.calls_of("sendMessage") == []


# --- /agenda -----------------------------------------------------------------------


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


@time_machine.travel(datetime(2026, 11, 20, 7, 0, tzinfo=UTC), tick=True)
def test_agenda_lists_todays_sessions_bookmarks_first(send_update, fake_telegram):
    day = date(2026, 11, 20)
    user = UserFactory(telegram_id=6001, telegram_chat_id=6001)
    conference = ConferenceFactory(name="IBW <2026>", starts_on=day, ends_on=date(2026, 11, 22))
    AttendanceFactory(conference=conference, user=user)
    hall = RoomFactory(conference=conference, name="Hall A")
    SessionFactory(
        conference=conference, room=hall, title="Opening & welcome", starts_at=_at(day, 9), ends_at=_at(day, 9, 30)
    )
    favourite = SessionFactory(
        conference=conference, room=hall, title="Zero knowledge", starts_at=_at(day, 11), ends_at=_at(day, 11, 45)
    )
    SessionFactory(conference=conference, room=None, title="Lunch", starts_at=_at(day, 12), ends_at=_at(day, 13))
    SessionFactory(
        conference=conference,
        room=hall,
        title="Tomorrow's talk",
        starts_at=_at(date(2026, 11, 21), 9),
        ends_at=_at(date(2026, 11, 21), 10),
    )
    user.bookmarks.create(session=favourite)

    send_update(message_update("/agenda", telegram_id=6001))

    assert fake_telegram.sent_texts(6001) == [
        "<b>IBW &lt;2026&gt;</b> – Friday 20 November\n"
        "\n"
        "⭐ 11:00–11:45 <b>Zero knowledge</b> · Hall A\n"
        "09:00–09:30 <b>Opening &amp; welcome</b> · Hall A\n"
        "12:00–13:00 <b>Lunch</b>"
    ]


@time_machine.travel(datetime(2026, 11, 19, 7, 0, tzinfo=UTC), tick=True)
def test_agenda_without_attendance_uses_the_next_conference(send_update, fake_telegram):
    UserFactory(telegram_id=6002, telegram_chat_id=6002)
    ConferenceFactory(name="Past", starts_on=date(2026, 10, 1), ends_on=date(2026, 10, 2))
    ConferenceFactory(name="Next", starts_on=date(2026, 11, 25), ends_on=date(2026, 11, 27))

    send_update(message_update("/agenda", telegram_id=6002))

    assert fake_telegram.sent_texts(6002) == ["<b>Next</b> – Thursday 19 November\nNo sessions today."]


def test_agenda_without_any_conference_answers_plainly(send_update, fake_telegram):
    UserFactory(telegram_id=6003, telegram_chat_id=6003)

    send_update(message_update("/agenda", telegram_id=6003))

    assert fake_telegram.sent_texts(6003) == ["No conference is scheduled yet."]


def test_agenda_from_an_unknown_person_asks_for_start(send_update, fake_telegram):
    send_update(message_update("/agenda", telegram_id=6004))

    assert fake_telegram.sent_texts(6004) == [NOT_LINKED]
    assert not User.objects.filter(telegram_id=6004).exists()


def test_agenda_command_addressed_to_the_bot_by_name(send_update, fake_telegram):
    UserFactory(telegram_id=6005, telegram_chat_id=6005)

    send_update(message_update("/agenda@ibw_test_bot", telegram_id=6005))

    assert fake_telegram.sent_texts(6005) == ["No conference is scheduled yet."]


# --- /quests -----------------------------------------------------------------------


def test_quests_without_quests_answers_plainly(send_update, fake_telegram):
    UserFactory(telegram_id=7001, telegram_chat_id=7001)

    send_update(message_update("/quests", telegram_id=7001))

    assert fake_telegram.sent_texts(7001) == ["No quests yet."]


def test_quests_shows_progress_and_points(send_update, fake_telegram):
    quest_models = pytest.importorskip("quests.models")
    user = UserFactory(telegram_id=7002, telegram_chat_id=7002, points=30)
    quest = quest_models.Quest.objects.create(title="Explore <the> venue")
    first = quest_models.Task.objects.create(quest=quest, title="Find the code", type="code", config={"code": "x"})
    quest_models.Task.objects.create(quest=quest, title="Quiz", type="quiz", config={"question": "?", "answers": ["a"]})
    quest_models.Submission.objects.create(task=first, user=user, status="approved", points_awarded=10)

    send_update(message_update("/quests", telegram_id=7002))

    assert fake_telegram.sent_texts(7002) == [
        "<b>Your quests</b>\n▫️ Explore &lt;the&gt; venue: 1/2\n\nPoints: <b>30</b>"
    ]


# --- /mute, /unmute ------------------------------------------------------------------


def test_mute_and_unmute_toggle_telegram_notifications(send_update, fake_telegram):
    user = UserFactory(telegram_id=8001, telegram_chat_id=8001)

    send_update(message_update("/mute", telegram_id=8001))
    user.refresh_from_db()
    muted = user.notify_telegram
    send_update(message_update("/unmute", telegram_id=8001))
    user.refresh_from_db()

    assert (muted, user.notify_telegram) == (False, True)
    assert fake_telegram.sent_texts(8001) == [
        "Notifications muted. Send /unmute to get them here again.",
        "Notifications are on again. Send /mute to stop them.",
    ]


def test_mute_from_an_unknown_person_asks_for_start(send_update, fake_telegram):
    send_update(message_update("/mute", telegram_id=8002))

    assert fake_telegram.sent_texts(8002) == [NOT_LINKED]


# --- replies meeting trouble -------------------------------------------------------------


def test_reply_meeting_429_is_retried_after_retry_after(send_update, fake_telegram, monkeypatch):
    # As on a worker: a task's retry is scheduled, not raised into whoever enqueued it.
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)
    UserFactory(telegram_id=9001, telegram_chat_id=9001)
    fake_telegram.fail("sendMessage", 429, retry_after=3)
    retries: list = []

    def on_retry(sender=None, reason=None, **kwargs):
        retries.append((sender.name, reason.when))

    signals.task_retry.connect(on_retry, weak=False)
    try:
        response = send_update(message_update("/mute", telegram_id=9001))
    finally:
        signals.task_retry.disconnect(on_retry)

    assert response.status_code == 200
    assert retries == [("integrations.send_bot_reply", 3.0)]
    assert len(fake_telegram.calls_of("sendMessage")) == 2
    assert fake_telegram.sent_texts(9001)[-1] == "Notifications muted. Send /unmute to get them here again."
    assert User.objects.get(telegram_id=9001).notify_telegram is False


def test_reply_to_a_chat_that_blocked_the_bot_marks_the_user(send_update, fake_telegram):
    user = UserFactory(telegram_id=9002, telegram_chat_id=9002)
    fake_telegram.blocked_chats.add(9002)

    response = send_update(message_update("/mute", telegram_id=9002))

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.telegram_blocked_at is not None


def test_webhook_without_bot_token_still_acts_and_answers_200(send_update, fake_telegram, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    user = UserFactory(telegram_id=9003, telegram_chat_id=9003)

    response = send_update(message_update("/mute", telegram_id=9003))

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.notify_telegram is False
    assert fake_telegram.calls == []


def test_updates_accepted_but_never_queued_are_handled_by_the_sweep(fake_telegram):
    from datetime import timedelta

    from bot.services import accept_update
    from bot.tasks import requeue_unhandled_updates_task

    UserFactory(telegram_id=9101, telegram_chat_id=9101)
    update = message_update("/mute", telegram_id=9101)
    accept_update(update, enqueue=False)
    ProcessedUpdate.objects.update(received_at=timezone.now() - timedelta(minutes=5))

    first = requeue_unhandled_updates_task.delay().get()
    second = requeue_unhandled_updates_task.delay().get()

    assert (first, second) == (1, 0)
    assert fake_telegram.sent_texts(9101) == ["Notifications muted. Send /unmute to get them here again."]


def _chat_member_update(telegram_id: int, status: str) -> dict:
    person = {"id": telegram_id, "is_bot": False, "first_name": "Ada"}
    return {
        "update_id": 70_000 + telegram_id % 1000 + (500 if status == "member" else 0),
        "my_chat_member": {
            "chat": {"id": telegram_id, "first_name": "Ada", "type": "private"},
            "from": person,
            "date": 1_700_000_000,
            "old_chat_member": {"user": {"id": 1, "is_bot": True, "first_name": "IBW"}, "status": "member"},
            "new_chat_member": {
                "user": {"id": 1, "is_bot": True, "first_name": "IBW"},
                "status": status,
                **({"until_date": 0} if status == "kicked" else {}),
            },
        },
    }


def test_blocking_and_unblocking_the_bot_is_recorded(send_update, fake_telegram):
    user = UserFactory(telegram_id=9201, telegram_chat_id=9201)

    send_update(_chat_member_update(9201, "kicked"))
    user.refresh_from_db()
    blocked = user.telegram_blocked_at
    send_update(_chat_member_update(9201, "member"))
    user.refresh_from_db()

    assert blocked is not None
    assert user.telegram_blocked_at is None
    assert fake_telegram.calls_of("sendMessage") == []


def test_webhook_answers_before_the_work_is_done(api, django_capture_on_commit_callbacks, fake_telegram):
    UserFactory(telegram_id=9301, telegram_chat_id=9301)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api.post(
            WEBHOOK,
            message_update("/mute", telegram_id=9301),
            format="json",
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET,
        )

    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert len(queued) == 1
    assert User.objects.get(telegram_id=9301).notify_telegram is True
    assert fake_telegram.calls_of("sendMessage") == []


def test_command_addressed_to_another_bot_is_ignored(send_update, fake_telegram):
    UserFactory(telegram_id=9401, telegram_chat_id=9401)

    send_update(message_update("/mute@some_other_bot", telegram_id=9401, chat_id=-100999, chat_type="group"))

    assert fake_telegram.calls_of("sendMessage") == []
    assert User.objects.get(telegram_id=9401).notify_telegram is True


# --- the broker down when the update is accepted ------------------------------------------


class _BrokerDown:
    """Point Celery at a port nobody listens on, with tasks really sent (not run eagerly)."""

    def __enter__(self):
        from ibw.embedded import free_port

        self.saved = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager")}
        celery_app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
        celery_app.conf.task_always_eager = False
        self._reset_pools()
        return self

    def __exit__(self, *exc_info):
        celery_app.conf.update(self.saved)
        self._reset_pools()

    @staticmethod
    def _reset_pools():
        # Celery caches its connection and producer pools for the URL it first used.
        celery_app._pool = None
        celery_app.amqp._producer_pool = None


def test_update_accepted_while_the_broker_is_down_is_answered_and_handled_later(send_update, fake_telegram):
    from datetime import timedelta

    from bot.tasks import requeue_unhandled_updates_task

    UserFactory(telegram_id=9201, telegram_chat_id=9201)
    update = message_update("/mute", telegram_id=9201)

    with _BrokerDown():
        response = send_update(update)

    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert list(ProcessedUpdate.objects.values_list("update_id", "handled_at")) == [(update["update_id"], None)]
    assert User.objects.get(telegram_id=9201).notify_telegram is True
    assert fake_telegram.calls_of("sendMessage") == []

    # The broker is back; the sweep finds the update (accepted over a minute ago) and it is acted on once.
    ProcessedUpdate.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    assert requeue_unhandled_updates_task.delay().get() == 1
    assert requeue_unhandled_updates_task.delay().get() == 0
    assert User.objects.get(telegram_id=9201).notify_telegram is False
    assert fake_telegram.sent_texts(9201) == ["Notifications muted. Send /unmute to get them here again."]
