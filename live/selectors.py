"""Reads of live sessions: questions in projector order, polls with database-counted results, feedback."""

from __future__ import annotations

from django.db.models import BigIntegerField, Count, Exists, OuterRef, Prefetch, QuerySet, Value

from conferences.models import Session
from live.errors import PollNotFound, QuestionNotFound, SessionNotFound
from live.models import Feedback, Poll, PollOption, PollVote, Question, QuestionStatus, QuestionVote
from users.models import User


def access_live_session(slug: str, session_id: int) -> Session:
    """Return session ``session_id`` of conference ``slug`` with its conference, or raise ``NotFound``."""
    session = Session.objects.select_related("conference").filter(conference__slug=slug, pk=session_id).first()
    if session is None:
        raise SessionNotFound()
    return session


def questions_for(session: Session, *, user: User | None, include_hidden: bool = False) -> QuerySet[Question]:
    """
    Return ``session``'s questions pinned first, then by votes (most first),
    then oldest first; each with ``votes`` (a ``COUNT`` of vote rows) and
    ``my_vote``. Hidden ones only with ``include_hidden``. One query.
    """
    questions = Question.objects.filter(session=session)
    if not include_hidden:
        questions = questions.exclude(status=QuestionStatus.HIDDEN)
    mine = (
        Exists(QuestionVote.objects.filter(question=OuterRef("pk"), user=user))
        if user is not None and user.is_authenticated
        else Value(False)
    )
    return (
        questions.select_related("author")
        .annotate(votes=Count("vote_rows"), my_vote=mine)
        .order_by("-is_pinned", "-votes", "created_at", "id")
    )


def access_question(session: Session, question_id: int, *, user: User | None, include_hidden: bool = False) -> Question:
    """Return one question of ``session`` as ``questions_for`` shapes it, or raise ``NotFound``."""
    question = questions_for(session, user=user, include_hidden=include_hidden).filter(pk=question_id).first()
    if question is None:
        raise QuestionNotFound()
    return question


def question_with_votes(question_id: int) -> Question | None:
    """Return a question with its ``votes`` count and author (for pushes, which have no viewer)."""
    return Question.objects.select_related("author").annotate(votes=Count("vote_rows")).filter(pk=question_id).first()


def _options_with_counts() -> Prefetch:
    return Prefetch(
        "options", queryset=PollOption.objects.annotate(votes=Count("vote_rows")).order_by("position", "id")
    )


def polls_for(session: Session, *, user: User | None) -> QuerySet[Poll]:
    """
    Return ``session``'s polls oldest first, each option with ``votes``
    counted by the database (``COUNT`` of the one-per-person vote rows) and
    the poll with ``my_vote`` (the caller's option id or None). Two queries.
    """
    polls = Poll.objects.filter(session=session).prefetch_related(_options_with_counts())
    if user is not None and user.is_authenticated:
        mine = PollVote.objects.filter(poll=OuterRef("pk"), user=user).values("option_id")[:1]
        return polls.annotate(my_vote=mine).order_by("created_at", "id")
    return polls.annotate(my_vote=Value(None, output_field=BigIntegerField())).order_by("created_at", "id")


def access_poll(session: Session, poll_id: int, *, user: User | None) -> Poll:
    """Return one poll of ``session`` as ``polls_for`` shapes it, or raise ``NotFound``."""
    poll = polls_for(session, user=user).filter(pk=poll_id).first()
    if poll is None:
        raise PollNotFound()
    return poll


def poll_results(poll_id: int) -> Poll | None:
    """Return a poll with its options' counts, without a viewer (for pushes)."""
    return Poll.objects.prefetch_related(_options_with_counts()).filter(pk=poll_id).first()


def feedback_summary(session: Session) -> dict:
    """
    Return ``{"count", "average", "distribution", "comments"}`` for
    ``session``'s feedback, naming nobody. Two queries.
    """
    distribution = {str(rating): 0 for rating in range(1, 6)}
    total = count = 0
    for row in Feedback.objects.filter(session=session).values("rating").annotate(n=Count("id")):
        distribution[str(row["rating"])] = row["n"]
        total += row["rating"] * row["n"]
        count += row["n"]
    comments = list(
        Feedback.objects.filter(session=session)
        .exclude(comment="")
        .order_by("-updated_at", "-id")
        .values_list("comment", flat=True)
    )
    return {
        "count": count,
        "average": round(total / count, 2) if count else None,
        "distribution": distribution,
        "comments": comments,
    }
