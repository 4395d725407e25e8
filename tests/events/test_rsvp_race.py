"""
Concurrent RSVPs against PostgreSQL, with threads (each has its own connection).

The race test makes the overlap certain rather than likely: the test holds
the event row's lock while both people's RSVPs start, waits until both are
blocked on it, then lets go. The control runs the same two requests through
a read-then-write RSVP without the lock and shows the seat is sold twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, connections, transaction

from conferences.models import Bookmark
from conferences.services import send_session_reminders
from events.models import RSVP, Event, RSVPStatus
from events.services import cancel_rsvp, rsvp_event
from notifications.models import Notification
from tests.factories import EventFactory, SessionFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what is tested: PostgreSQL only")


def _run_in_threads(jobs: list[Callable[[], object]]) -> list[object]:
    results: list[object] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], object]) -> None:
        try:
            results[index] = job()
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


def _sessions_waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps serving its first snapshot of the statistics views.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _counts(event: Event) -> tuple[int, int, int, int]:
    event.refresh_from_db()
    going = RSVP.objects.filter(event=event, status=RSVPStatus.GOING).count()
    waiting = RSVP.objects.filter(event=event, status=RSVPStatus.WAITLISTED).count()
    return event.going_count, going, event.waitlist_count, waiting


def test_two_people_racing_for_the_last_seat_one_goes_one_waits():
    event = EventFactory(capacity=2)
    rsvp_event(event, user=UserFactory())
    racers = [UserFactory(), UserFactory()]
    statuses: list[object] = []

    def race() -> None:
        statuses.extend(
            _run_in_threads([lambda u=u: rsvp_event(Event.objects.get(pk=event.pk), user=u)[0].status for u in racers])
        )

    with transaction.atomic():
        Event.objects.select_for_update().get(pk=event.pk)
        runner = threading.Thread(target=race)
        runner.start()
        deadline = time.monotonic() + 10
        while _sessions_waiting_on_locks() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        both_blocked = _sessions_waiting_on_locks() >= 2
    runner.join(timeout=30)

    assert both_blocked
    assert sorted(statuses) == ["going", "waitlisted"]
    assert _counts(event) == (2, 2, 1, 1)


def test_control_without_the_lock_the_last_seat_is_sold_twice():
    event = EventFactory(capacity=2)
    rsvp_event(event, user=UserFactory())
    racers = [UserFactory(), UserFactory()]
    both_read = threading.Barrier(2, timeout=10)

    def unlocked_rsvp(user) -> str:
        with transaction.atomic():
            current = Event.objects.get(pk=event.pk)  # no FOR UPDATE
            status = RSVPStatus.GOING if current.going_count < current.capacity else RSVPStatus.WAITLISTED
            both_read.wait()  # each has seen one seat left before either takes it
            RSVP.objects.create(event=current, user=user, status=status)
            Event.objects.filter(pk=event.pk).update(going_count=current.going_count + 1)
            return status

    statuses = _run_in_threads([lambda u=u: unlocked_rsvp(u) for u in racers])

    stored_count, going_rows, _, _ = _counts(event)
    assert statuses == ["going", "going"]
    assert going_rows == 3  # over capacity
    assert stored_count == 2  # and a lost update: the counter no longer matches the rows


def test_many_concurrent_rsvps_fill_capacity_exactly():
    event = EventFactory(capacity=3)
    people = [UserFactory() for _ in range(10)]

    statuses = _run_in_threads(
        [lambda u=u: rsvp_event(Event.objects.get(pk=event.pk), user=u)[0].status for u in people]
    )

    assert statuses.count("going") == 3
    assert statuses.count("waitlisted") == 7
    assert _counts(event) == (3, 3, 7, 7)


def test_concurrent_cancels_and_rsvps_keep_counts_exact():
    event = EventFactory(capacity=4)
    first = [UserFactory() for _ in range(6)]
    for person in first:
        rsvp_event(event, user=person)
    newcomers = [UserFactory() for _ in range(4)]

    jobs = [lambda u=u: cancel_rsvp(Event.objects.get(pk=event.pk), user=u) for u in first[:3]]
    jobs += [lambda u=u: rsvp_event(Event.objects.get(pk=event.pk), user=u) for u in newcomers]
    _run_in_threads(jobs)

    stored_going, going, stored_waiting, waiting = _counts(event)
    assert (stored_going, stored_waiting) == (going, waiting)
    assert going == 4
    assert going + waiting == 7


def test_same_person_rsvping_twice_at_once_gets_one_rsvp():
    event = EventFactory(capacity=5)
    person = UserFactory()

    results = _run_in_threads([lambda: rsvp_event(Event.objects.get(pk=event.pk), user=person)[1] for _ in range(4)])

    assert sorted(results) == [False, False, False, True]
    assert _counts(event) == (1, 1, 0, 0)


def test_concurrent_reminder_runs_remind_each_bookmark_once():
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    session = SessionFactory(starts_at=now + timedelta(minutes=5), ends_at=now + timedelta(minutes=35))
    for _ in range(5):
        Bookmark.objects.create(user=UserFactory(), session=session)

    sent = _run_in_threads([send_session_reminders for _ in range(4)])

    assert sum(sent) == 5
    assert Notification.objects.filter(kind="session_reminder").count() == 5
