"""
Races settled by PostgreSQL, with threads (each its own connection): two
workers deciding one join request, people opening the chat list at once,
two organizers linking one chat. The control shows that the assertions
catch a double decision when nothing in the database stops it.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from chats import services
from chats.models import ChatLink, InviteLink, JoinRequest
from integrations.telegram_sender import TelegramSender
from tests.chats.conftest import linked_chat, new_chat_id
from tests.factories import ConferenceFactory
from tests.races import run_in_threads, sessions_waiting_on_locks
from tests.telegram import chat_join_request_update

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and unique indexes under concurrency are what is tested: PostgreSQL only")


def _decide(payload: dict) -> bool:
    """What a worker does with the update: record the decision, then (its task) make the Telegram call."""
    decided = services.record_join_request(payload)
    return decided is not None


def test_two_workers_deciding_one_join_request_make_one_decision_and_one_call(fake_telegram, conference, attendee):
    link = linked_chat(fake_telegram, conference)
    update = chat_join_request_update(link.chat_id, telegram_id=attendee.telegram_id)
    fake_telegram.expect_join_request(update)
    payload = update["chat_join_request"]
    outcomes: list[object] = []

    def race() -> None:
        outcomes.extend(run_in_threads([lambda: _decide(payload), lambda: _decide(payload)]))

    # Both workers read "no decision yet" and reach the insert while the chat row is locked.
    with transaction.atomic():
        ChatLink.objects.select_for_update().get(pk=link.pk)
        runner = threading.Thread(target=race)
        runner.start()
        deadline = time.monotonic() + 10
        while sessions_waiting_on_locks() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        both_blocked = sessions_waiting_on_locks() >= 2
    runner.join(timeout=60)

    assert both_blocked
    assert sorted(outcomes) == [False, True]
    assert JoinRequest.objects.count() == 1
    assert [c.method for c in fake_telegram.decision_calls()] == ["approveChatJoinRequest"]
    assert JoinRequest.objects.get().state == "sent"


def test_two_tasks_carrying_out_one_decision_call_telegram_once(fake_telegram, conference, attendee):
    link = linked_chat(fake_telegram, conference)
    update = chat_join_request_update(link.chat_id, telegram_id=attendee.telegram_id)
    fake_telegram.expect_join_request(update)
    fake_telegram.delay = 0.2  # the first call is still in flight when the second task runs
    row = JoinRequest.objects.create(
        chat=link, telegram_user_id=attendee.telegram_id, requested_at="2026-12-01T10:00:00Z", decision="approve"
    )
    start = threading.Barrier(4, timeout=10)

    def task() -> float:
        start.wait()
        return services.send_join_decisions([row.pk])

    run_in_threads([task] * 4)

    assert len(fake_telegram.decision_calls()) == 1


def test_control_a_decision_not_settled_by_the_database_is_made_twice(fake_telegram, conference, attendee):
    """Without the unique decision row, two workers that both see "undecided" both call Telegram."""
    link = linked_chat(fake_telegram, conference)
    update = chat_join_request_update(link.chat_id, telegram_id=attendee.telegram_id)
    fake_telegram.expect_join_request(update)
    both_read = threading.Barrier(2, timeout=10)

    def naive_decide() -> None:
        undecided = not JoinRequest.objects.filter(chat=link, telegram_user_id=attendee.telegram_id).exists()
        both_read.wait()
        if undecided:
            with TelegramSender() as sender:
                sender.call_many(
                    [("approveChatJoinRequest", {"chat_id": link.chat_id, "user_id": attendee.telegram_id})]
                )

    run_in_threads([naive_decide, naive_decide])

    assert len(fake_telegram.decision_calls()) == 2  # what the race test above asserts is 1


def test_people_opening_the_list_at_once_get_one_invite_link_each_made_once(fake_telegram, conference, attendee):
    link = linked_chat(fake_telegram, conference)
    fake_telegram.delay = 0.1
    start = threading.Barrier(6, timeout=10)

    def open_list() -> str | None:
        start.wait()
        return services.ensure_invite_link(link, attendee)

    links = run_in_threads([open_list] * 6)

    assert len(set(links)) == 1 and links[0]
    assert len(fake_telegram.calls_of("createChatInviteLink")) == 1
    assert InviteLink.objects.count() == 1


def test_two_conferences_linking_one_chat_at_once_one_wins(fake_telegram):
    chat_id = new_chat_id()
    fake_telegram.add_chat(chat_id)
    fake_telegram.delay = 0.1
    first, second = ConferenceFactory(), ConferenceFactory()
    start = threading.Barrier(2, timeout=10)

    def link(conference) -> str:
        start.wait()
        try:
            services.link_chat(conference, chat_id=chat_id, purpose="community", by=None)
        except services.ChatLinkedElsewhere:
            return "409"
        return "201"

    outcomes = run_in_threads([lambda: link(first), lambda: link(second)])

    assert sorted(outcomes) == ["201", "409"]
    assert ChatLink.objects.count() == 1
