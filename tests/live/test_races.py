"""Concurrent votes on PostgreSQL: the database, not the application, keeps one vote per person."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection
from django.db.models import Count

from live.models import Poll, PollOption, PollVote, Question, QuestionVote
from live.selectors import polls_for, questions_for
from live.services import vote_poll, vote_question
from tests.factories import SessionFactory, UserFactory
from tests.races import run_together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only():
    if db_connection.vendor != "postgresql":
        pytest.skip("races need PostgreSQL's concurrent writers")


def test_twenty_concurrent_votes_by_one_person_count_once():
    session = SessionFactory()
    question = Question.objects.create(session=session, author=UserFactory(), text="q")
    voter = UserFactory()

    outcomes = run_together([lambda: vote_question(question, user=voter) for _ in range(20)])

    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert sorted(outcomes) == [False] * 19 + [True]
    assert QuestionVote.objects.filter(question=question).count() == 1
    assert questions_for(session, user=voter).get().votes == 1


def test_two_people_voting_on_a_poll_at_once_are_both_counted():
    session = SessionFactory()
    poll = Poll.objects.create(session=session, question="?")
    yes = PollOption.objects.create(poll=poll, text="yes", position=0)
    a, b = UserFactory(), UserFactory()

    outcomes = run_together(
        [lambda: vote_poll(poll, user=a, option_id=yes.pk), lambda: vote_poll(poll, user=b, option_id=yes.pk)]
    )

    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert [o.votes for o in polls_for(session, user=a).get().options.all()] == [2]


def test_one_person_changing_their_poll_vote_concurrently_keeps_one_row():
    session = SessionFactory()
    poll = Poll.objects.create(session=session, question="?")
    options = [PollOption.objects.create(poll=poll, text=str(i), position=i) for i in range(2)]
    voter = UserFactory()

    outcomes = run_together([lambda i=i: vote_poll(poll, user=voter, option_id=options[i % 2].pk) for i in range(10)])

    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert PollVote.objects.filter(poll=poll).count() == 1
    totals = PollOption.objects.filter(poll=poll).annotate(n=Count("vote_rows")).values_list("n", flat=True)
    assert sum(totals) == 1
