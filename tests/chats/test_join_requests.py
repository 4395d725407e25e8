"""
``chat_join_request`` updates through the webhook and long polling: the
database decides, Telegram hears the decision once, a declined person who
started the bot is told how to get in.
"""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from chats.models import ChatStatus, JoinRequest
from chats.services import sweep
from events.models import RSVP, RSVPStatus
from notifications.models import DeliveryState
from tests.chats.conftest import bot_user, linked_chat
from tests.factories import AttendanceFactory, EventFactory, UserFactory
from tests.telegram import chat_join_request_update

pytestmark = pytest.mark.django_db


def _ask(fake_telegram, send_update, link, person, **kwargs):
    update = chat_join_request_update(link.chat_id, telegram_id=person.telegram_id, **kwargs)
    fake_telegram.expect_join_request(update)
    response = send_update(update)
    assert response.status_code == 200
    return update


def _decisions(fake_telegram) -> list[tuple[str, int, int]]:
    return [(c.method, int(c.params["chat_id"]), int(c.params["user_id"])) for c in fake_telegram.decision_calls()]


def test_a_registered_person_is_approved_once(fake_telegram, send_update, conference, attendee):
    link = linked_chat(fake_telegram, conference)

    _ask(fake_telegram, send_update, link, attendee)

    assert _decisions(fake_telegram) == [("approveChatJoinRequest", link.chat_id, attendee.telegram_id)]
    row = JoinRequest.objects.get()
    assert (row.decision, row.state, row.user) == ("approve", DeliveryState.SENT, attendee)
    assert fake_telegram.sent_texts(attendee.telegram_chat_id) == []


def test_a_person_not_registered_is_declined_and_told_how_to_register(fake_telegram, send_update, conference):
    link = linked_chat(fake_telegram, conference, title="PyCon <group>")
    person = bot_user()

    _ask(fake_telegram, send_update, link, person)

    assert _decisions(fake_telegram) == [("declineChatJoinRequest", link.chat_id, person.telegram_id)]
    assert fake_telegram.sent_texts(person.telegram_chat_id) == [
        "Your request to join <b>PyCon &lt;group&gt;</b> was declined: it is for people registered for "
        "<b>PyCon Nowhere</b>.\n\nRegister for PyCon Nowhere in the IBW app, then tap the chat's invite link "
        "in the app and ask to join again."
    ]


def test_someone_unknown_to_ibw_is_declined_without_a_message(fake_telegram, send_update, conference):
    link = linked_chat(fake_telegram, conference)
    update = chat_join_request_update(link.chat_id, telegram_id=99_999_001)
    fake_telegram.expect_join_request(update)

    send_update(update)

    assert _decisions(fake_telegram) == [("declineChatJoinRequest", link.chat_id, 99_999_001)]
    assert fake_telegram.calls_of("sendMessage") == []


def test_a_person_who_never_started_the_bot_is_declined_without_a_message(fake_telegram, send_update, conference):
    link = linked_chat(fake_telegram, conference)
    person = UserFactory()  # logged in with the widget, never opened the bot

    _ask(fake_telegram, send_update, link, person)

    assert [m for m, _, _ in _decisions(fake_telegram)] == ["declineChatJoinRequest"]
    assert fake_telegram.calls_of("sendMessage") == []


def test_a_redelivered_update_and_a_second_update_of_one_request_decide_once(
    fake_telegram, send_update, conference, attendee
):
    link = linked_chat(fake_telegram, conference)
    update = _ask(fake_telegram, send_update, link, attendee)

    send_update(update)  # Telegram re-sends the same update
    again = dict(update, update_id=update["update_id"] + 500_000)  # the same request in another update
    send_update(again)

    assert len(fake_telegram.decision_calls()) == 1
    assert JoinRequest.objects.count() == 1


def test_registering_after_a_decline_lets_the_person_ask_again(fake_telegram, send_update, conference):
    link = linked_chat(fake_telegram, conference)
    person = bot_user()
    _ask(fake_telegram, send_update, link, person, date=int(time.time()) - 60)

    AttendanceFactory(conference=conference, user=person)
    _ask(fake_telegram, send_update, link, person)

    assert [m for m, _, _ in _decisions(fake_telegram)] == ["declineChatJoinRequest", "approveChatJoinRequest"]
    assert list(JoinRequest.objects.order_by("pk").values_list("decision", flat=True)) == ["decline", "approve"]


def test_a_request_for_a_chat_not_linked_or_inactive_is_left_undecided(
    fake_telegram, send_update, conference, attendee
):
    inactive = linked_chat(fake_telegram, conference)
    inactive.status = ChatStatus.INACTIVE
    inactive.save()

    send_update(chat_join_request_update(-100_555, telegram_id=attendee.telegram_id))
    send_update(chat_join_request_update(inactive.chat_id, telegram_id=attendee.telegram_id))

    assert fake_telegram.decision_calls() == []
    assert not JoinRequest.objects.exists()


def test_event_chats_let_in_people_going_and_tell_the_waitlist_to_wait(fake_telegram, send_update):
    event = EventFactory(title="Rooftop party", capacity=1)
    link = linked_chat(fake_telegram, event, title="Rooftop")
    going, waiting = bot_user(), bot_user()
    RSVP.objects.create(event=event, user=going, status=RSVPStatus.GOING)
    RSVP.objects.create(event=event, user=waiting, status=RSVPStatus.WAITLISTED)

    _ask(fake_telegram, send_update, link, going)
    _ask(fake_telegram, send_update, link, waiting)

    assert _decisions(fake_telegram) == [
        ("approveChatJoinRequest", link.chat_id, going.telegram_id),
        ("declineChatJoinRequest", link.chat_id, waiting.telegram_id),
    ]
    assert fake_telegram.sent_texts(waiting.telegram_chat_id) == [
        "Your request to join <b>Rooftop</b> was declined: you are on the waitlist of <b>Rooftop party</b>. "
        "Once you have a seat, ask to join again with your invite link in the app."
    ]


def test_a_429_puts_the_decision_back_and_the_sweep_makes_it_once(
    fake_telegram, send_update, conference, attendee, settings
):
    link = linked_chat(fake_telegram, conference)
    fake_telegram.fail("approveChatJoinRequest", 429, retry_after=1)

    _ask(fake_telegram, send_update, link, attendee)
    row = JoinRequest.objects.get()
    assert (row.state, row.attempts) == (DeliveryState.PENDING, 0)

    JoinRequest.objects.update(created_at=row.created_at.replace(year=2000))
    time.sleep(1.1)  # the pause every worker honours
    sweep()

    row.refresh_from_db()
    assert row.state == DeliveryState.SENT
    assert fake_telegram.join_decisions == {(link.chat_id, attendee.telegram_id): "approved"}


def test_a_decision_cut_off_mid_call_is_made_again_and_admits_nobody_twice(fake_telegram, conference, attendee):
    link = linked_chat(fake_telegram, conference)
    update = chat_join_request_update(link.chat_id, telegram_id=attendee.telegram_id)
    fake_telegram.expect_join_request(update)
    fake_telegram.join_decisions[(link.chat_id, attendee.telegram_id)] = "approved"  # the lost call got through
    JoinRequest.objects.create(
        chat=link,
        telegram_user_id=attendee.telegram_id,
        requested_at="2026-01-01T00:00:00Z",
        decision="approve",
        state=DeliveryState.SENDING,
        sending_at="2026-01-01T00:00:00Z",
        attempts=1,
    )

    sweep()

    row = JoinRequest.objects.get()
    assert row.state == DeliveryState.FAILED
    assert "HIDE_REQUESTER_MISSING" in row.error  # Telegram refuses a second decision
    assert fake_telegram.join_decisions == {(link.chat_id, attendee.telegram_id): "approved"}


@pytest.mark.django_db(transaction=True)
def test_long_polling_decides_join_requests_with_the_same_handlers(fake_telegram, conference, attendee):
    link = linked_chat(fake_telegram, conference)
    fake_telegram.push_update(chat_join_request_update(link.chat_id, telegram_id=attendee.telegram_id, update_id=950))

    call_command("telegram_bot", "--once", "--timeout", "0")

    assert _decisions(fake_telegram) == [("approveChatJoinRequest", link.chat_id, attendee.telegram_id)]
    assert "chat_join_request" in fake_telegram.calls_of("getUpdates")[0].params["allowed_updates"]
