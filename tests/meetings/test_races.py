"""
Racing accepts, requests and reminders against PostgreSQL, with threads
(each has its own connection).

The lock tests make the overlap certain rather than likely: the test holds
the slot row's lock while every accept starts, waits until they are all
blocked on it, then lets go. The control runs two accepts through a
read-then-write accept without the lock and shows both pick the same table;
only the database's partial unique constraint stops the second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from meetings.models import Meeting, MeetingSeat, MeetingSlot, MeetingStatus, MeetingTable
from meetings.services import accept_meeting, request_meeting, send_meeting_reminders
from notifications.models import Notification
from tests.factories import ConferenceFactory
from tests.meetings.helpers import attendee, make_window, next_hour
from tests.races import run_together, sessions_waiting_on_locks

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent writers are what is tested: PostgreSQL only")


def _race_behind_slot_lock(slot: MeetingSlot, jobs: list[Callable[[], object]]) -> tuple[list[object], bool]:
    """Start ``jobs`` while this connection holds ``slot``'s lock; release once all wait on it."""
    outcomes: list[object] = []
    runner = threading.Thread(target=lambda: outcomes.extend(run_together(jobs)))
    with transaction.atomic():
        MeetingSlot.objects.select_for_update().get(pk=slot.pk)
        runner.start()
        deadline = time.monotonic() + 15
        while sessions_waiting_on_locks() < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.02)
        all_blocked = sessions_waiting_on_locks() >= len(jobs)
    runner.join(timeout=60)
    return outcomes, all_blocked


def _codes(outcomes) -> list[str]:
    return sorted(o.status if isinstance(o, Meeting) else getattr(o, "code", repr(o)) for o in outcomes)


def _invariants_hold() -> None:
    accepted = Meeting.objects.filter(status=MeetingStatus.ACCEPTED)
    per_table = [(m.slot_id, m.table_id) for m in accepted]
    assert len(per_table) == len(set(per_table)), "a table holds two meetings in one slot"
    people = [(m.slot_id, p) for m in accepted for p in (m.requester_id, m.recipient_id)]
    assert len(people) == len(set(people)), "someone holds two accepted meetings in one slot"
    assert MeetingSeat.objects.count() == 2 * accepted.count()


@pytest.mark.parametrize("attempt", range(3))
def test_two_accepts_for_one_person_in_one_slot_one_wins(attempt):
    conference = ConferenceFactory()
    slot = make_window(conference, tables=["T1", "T2", "T3"]).slots.first()
    busy, a, b = attendee(conference), attendee(conference), attendee(conference)
    first = request_meeting(busy, conference=conference, with_user_id=a.pk, starts_at=slot.starts_at)
    second = request_meeting(b, conference=conference, with_user_id=busy.pk, starts_at=slot.starts_at)

    outcomes, all_blocked = _race_behind_slot_lock(
        slot,
        [lambda: accept_meeting(a, meeting_id=first.pk), lambda: accept_meeting(busy, meeting_id=second.pk)],
    )

    assert all_blocked
    assert _codes(outcomes) == ["SLOT_TAKEN", "accepted"]
    assert MeetingSeat.objects.filter(user=busy).count() == 1
    _invariants_hold()


@pytest.mark.parametrize("attempt", range(3))
def test_accepts_racing_for_tables_fill_each_table_once(attempt):
    conference = ConferenceFactory()
    slot = make_window(conference, tables=["T1", "T2", "T3"]).slots.first()
    meetings = []
    for _ in range(6):
        a, b = attendee(conference), attendee(conference)
        meetings.append((b, request_meeting(a, conference=conference, with_user_id=b.pk, starts_at=slot.starts_at)))

    outcomes, all_blocked = _race_behind_slot_lock(
        slot, [lambda b=b, m=m: accept_meeting(b, meeting_id=m.pk) for b, m in meetings]
    )

    assert all_blocked
    assert _codes(outcomes) == ["NO_TABLE_FREE"] * 3 + ["accepted"] * 3
    assert sorted(Meeting.objects.filter(status="accepted").values_list("table__name", flat=True)) == ["T1", "T2", "T3"]
    _invariants_hold()


def test_many_accepts_across_slots_and_shared_people_keep_every_invariant():
    conference = ConferenceFactory()
    window = make_window(conference, slots=3, tables=["T1", "T2"])
    people = [attendee(conference) for _ in range(8)]
    jobs = []
    for slot in window.slots.all():
        for i in range(8):
            a, b = people[i], people[(i + 1 + slot.pk) % 8]
            if a == b:
                continue
            try:
                meeting = request_meeting(a, conference=conference, with_user_id=b.pk, starts_at=slot.starts_at)
            except Exception:  # the same pair already asked in this slot
                continue
            jobs.append(lambda b=b, m=meeting: accept_meeting(b, meeting_id=m.pk))

    outcomes = run_together(jobs)

    assert all(isinstance(o, Meeting) or getattr(o, "code", None) in ("SLOT_TAKEN", "NO_TABLE_FREE") for o in outcomes)
    assert Meeting.objects.filter(status="accepted").count() == sum(isinstance(o, Meeting) for o in outcomes)
    _invariants_hold()


def test_control_without_the_lock_two_accepts_pick_the_same_table():
    conference = ConferenceFactory()
    slot = make_window(conference, tables=["T1", "T2"]).slots.first()
    pairs = [(attendee(conference), attendee(conference)) for _ in range(2)]
    meetings = [
        request_meeting(a, conference=conference, with_user_id=b.pk, starts_at=slot.starts_at) for a, b in pairs
    ]
    both_read = threading.Barrier(2, timeout=10)

    def unlocked_accept(meeting: Meeting) -> str:
        with transaction.atomic():
            taken = Meeting.objects.filter(slot=slot, status="accepted").values("table_id")  # no FOR UPDATE
            table = MeetingTable.objects.filter(window=slot.window).exclude(pk__in=taken).order_by("position").first()
            table_name = table.name
            both_read.wait()  # each has seen T1 free before either takes it
            Meeting.objects.filter(pk=meeting.pk).update(status="accepted", table=table, responded_at=timezone.now())
            return table_name

    outcomes = run_together([lambda m=m: unlocked_accept(m) for m in meetings])

    # Both chose T1; the partial unique index on (table, slot) is what refused the second.
    assert sorted(map(str, outcomes))[0] == "T1"
    assert sum(isinstance(o, IntegrityError) for o in outcomes) == 1
    assert [o for o in outcomes if isinstance(o, str)] == ["T1"]
    assert Meeting.objects.filter(status="accepted").count() == 1


@pytest.mark.parametrize("attempt", range(3))
def test_racing_requests_for_one_pair_and_slot_make_one_meeting(attempt):
    conference = ConferenceFactory()
    slot = make_window(conference).slots.first()
    a, b = attendee(conference), attendee(conference)
    barrier = threading.Barrier(2, timeout=10)

    def ask(x, y):
        barrier.wait()
        return request_meeting(x, conference=conference, with_user_id=y.pk, starts_at=slot.starts_at)

    outcomes = run_together([lambda: ask(a, b), lambda: ask(b, a)])

    assert _codes(outcomes) == ["ALREADY_REQUESTED", "pending"]
    assert Meeting.objects.count() == 1
    assert Notification.objects.filter(kind="meeting_requested").count() == 1


@pytest.mark.parametrize("attempt", range(3))
def test_two_reminder_runs_at_once_remind_each_person_once(attempt, settings):
    settings.MEETING_REMINDER_MINUTES = 5
    conference = ConferenceFactory()
    window = make_window(conference, starts_at=next_hour(3), slots=2, tables=["T1", "T2", "T3"])
    pairs = [(attendee(conference), attendee(conference)) for _ in range(3)]
    for a, b in pairs:
        accept_meeting(
            b,
            meeting_id=request_meeting(
                a, conference=conference, with_user_id=b.pk, starts_at=window.slots.first().starts_at
            ).pk,
        )
    now = window.starts_at - timedelta(minutes=4)
    barrier = threading.Barrier(2, timeout=10)

    def run():
        barrier.wait()
        return send_meeting_reminders(now=now)

    outcomes = run_together([run, run])

    assert sum(outcomes) == 3
    reminders = Notification.objects.filter(kind="meeting_reminder")
    assert reminders.count() == 6
    assert sorted(reminders.values_list("user_id", flat=True)) == sorted(p.pk for pair in pairs for p in pair)
