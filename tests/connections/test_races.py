"""Concurrent requests between the same two people, on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection

from connections.models import Connection, ConnectionStatus
from connections.services import request_connection, scan_badge
from ibw.errors import ApplicationError
from tests.factories import AttendanceFactory, ConferenceFactory, UserFactory
from tests.races import run_together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only():
    if db_connection.vendor != "postgresql":
        pytest.skip("races need PostgreSQL's row locks and concurrent writers")


@pytest.mark.parametrize("attempt", range(5))
def test_requests_both_ways_at_once_end_in_one_accepted_connection(attempt):
    a, b = UserFactory(), UserFactory()

    outcomes = run_together(
        [lambda: request_connection(a, to_user_id=b.pk), lambda: request_connection(b, to_user_id=a.pk)]
    )

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sorted(created for _, created in outcomes) == [False, True]
    connection = Connection.objects.get()
    assert connection.status == ConnectionStatus.ACCEPTED


@pytest.mark.parametrize("attempt", range(3))
def test_same_request_twice_at_once_creates_one_and_conflicts_once(attempt):
    a, b = UserFactory(), UserFactory()

    outcomes = run_together([lambda: request_connection(a, to_user_id=b.pk) for _ in range(2)])

    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], ApplicationError)
    assert errors[0].code == "ALREADY_CONNECTED"
    assert Connection.objects.get().status == ConnectionStatus.PENDING


@pytest.mark.parametrize("attempt", range(3))
def test_badge_scans_both_ways_at_once_end_in_one_connection(attempt):
    conference = ConferenceFactory()
    a, b = AttendanceFactory(conference=conference), AttendanceFactory(conference=conference)

    outcomes = run_together(
        [
            lambda: scan_badge(a.user, badge_code=b.badge_code),
            lambda: scan_badge(b.user, badge_code=a.badge_code),
        ]
    )

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sorted(created for _, created in outcomes) == [False, True]
    connection = Connection.objects.get()
    assert (connection.status, connection.met_in_person) == (ConnectionStatus.ACCEPTED, True)
