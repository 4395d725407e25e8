"""
Writes of live sessions. Every change is pushed to the session's channel
after commit (``live.realtime``): questions and polls at once, vote counts
coalesced.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.utils import timezone

from conferences.models import Session
from conferences.selectors import is_checked_in
from live import realtime, selectors
from live.errors import FeedbackNotOpen, NotCheckedIn, PollClosed, UnknownOption
from live.models import (
    Feedback,
    ModerationAction,
    Poll,
    PollOption,
    PollStatus,
    PollVote,
    Question,
    QuestionModeration,
    QuestionStatus,
    QuestionVote,
)
from users.models import User


def _push_question(question_id: int) -> None:
    question = selectors.question_with_votes(question_id)
    if question is not None:
        realtime.publish_question(question)


def ask_question(session: Session, *, author: User, text: str, anonymous: bool = False) -> Question:
    """
    Create ``author``'s question on ``session`` and push it to the session's
    channel after commit. The rate limit (5 a minute) is the API's throttle.
    """
    with transaction.atomic():
        question = Question.objects.create(session=session, author=author, text=text, is_anonymous=anonymous)
        transaction.on_commit(lambda: _push_question(question.pk))
    return question


def _mark_votes_dirty(session_id: int, member: str) -> None:
    transaction.on_commit(lambda: realtime.mark_dirty(session_id, kind=realtime.VOTES, member=member))


def vote_question(question: Question, *, user: User) -> bool:
    """
    Upvote ``question`` as ``user``; return whether this call added the vote.

    Idempotent under races: the (question, user) unique constraint keeps one
    row; a concurrent duplicate waits for the winner's commit and then adds
    nothing. The vote count goes out coalesced after commit.
    """
    try:
        with transaction.atomic():
            QuestionVote.objects.create(question=question, user=user)
    except IntegrityError:
        return False
    _mark_votes_dirty(question.session_id, f"q:{question.pk}")
    return True


def unvote_question(question: Question, *, user: User) -> bool:
    """Withdraw ``user``'s vote on ``question``; return whether there was one. Idempotent."""
    deleted, _ = QuestionVote.objects.filter(question=question, user=user).delete()
    if deleted:
        _mark_votes_dirty(question.session_id, f"q:{question.pk}")
    return bool(deleted)


def moderate_question(question: Question, *, action: str, by: User | None) -> Question:
    """
    Apply a moderator's ``action`` (hide, answer, pin, unpin, reopen) to
    ``question``, record who did it and when (``by`` None: the admin key),
    and push the question after commit. Locks the question row, so two
    moderators acting at once apply one after the other. Hiding unpins.
    """
    with transaction.atomic():
        locked = Question.objects.select_for_update().get(pk=question.pk)
        if action == ModerationAction.HIDE:
            locked.status, locked.is_pinned = QuestionStatus.HIDDEN, False
        elif action == ModerationAction.ANSWER:
            locked.status = QuestionStatus.ANSWERED
        elif action == ModerationAction.REOPEN:
            locked.status = QuestionStatus.OPEN
        elif action == ModerationAction.PIN:
            locked.is_pinned = True
        elif action == ModerationAction.UNPIN:
            locked.is_pinned = False
        else:
            raise ValueError(f"unknown moderation action {action!r}")
        locked.moderated_at = timezone.now()
        locked.moderated_by = by
        locked.save(update_fields=["status", "is_pinned", "moderated_at", "moderated_by"])
        QuestionModeration.objects.create(question=locked, action=action, by=by)
        transaction.on_commit(lambda: _push_question(locked.pk))
    return locked


def create_poll(session: Session, *, question: str, options: Sequence[str], by: User | None) -> Poll:
    """Open a poll on ``session`` with ``options`` (2–10, validated by the caller) and push it after commit."""
    with transaction.atomic():
        poll = Poll.objects.create(session=session, question=question, created_by=by)
        PollOption.objects.bulk_create([PollOption(poll=poll, text=text, position=i) for i, text in enumerate(options)])
        transaction.on_commit(lambda: _push_poll(poll.pk))
    return poll


def _push_poll(poll_id: int) -> None:
    poll = selectors.poll_results(poll_id)
    if poll is not None:
        realtime.publish_poll(poll)


def vote_poll(poll: Poll, *, user: User, option_id: int) -> PollVote:
    """
    Record ``user``'s choice on ``poll``, replacing an earlier one.

    One ``INSERT … ON CONFLICT (poll, user) DO UPDATE``: concurrent votes of
    one person leave one row, concurrent votes of different people each
    leave theirs, and results are a ``COUNT`` over these rows. A vote racing
    the poll's close may land just before it. Results go out coalesced.
    """
    if poll.status != PollStatus.OPEN:
        raise PollClosed()
    if not PollOption.objects.filter(poll=poll, pk=option_id).exists():
        raise UnknownOption()
    (vote,) = PollVote.objects.bulk_create(
        [PollVote(poll=poll, user=user, option_id=option_id, voted_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["poll", "user"],
        update_fields=["option", "voted_at"],
    )
    _mark_votes_dirty(poll.session_id, f"p:{poll.pk}")
    return vote


def close_poll(poll: Poll, *, by: User | None) -> bool:
    """Close ``poll``; return whether this call closed it (a conditional UPDATE: idempotent). Pushes it after commit."""
    with transaction.atomic():
        closed = Poll.objects.filter(pk=poll.pk, status=PollStatus.OPEN).update(
            status=PollStatus.CLOSED, closed_at=timezone.now(), closed_by=by
        )
        if closed:
            transaction.on_commit(lambda: _push_poll(poll.pk))
    return bool(closed)


def give_feedback(session: Session, *, user: User, rating: int, comment: str = "") -> tuple[Feedback, bool]:
    """
    Record ``user``'s rating of ``session``, replacing an earlier one; return
    it and whether it is new. Only for people checked in at the conference
    (``NotCheckedIn``) and only once the session has started
    (``FeedbackNotOpen``). One row per person (unique constraint): the loser
    of a race updates the winner's row.
    """
    if not is_checked_in(session.conference, user=user):
        raise NotCheckedIn()
    if session.starts_at > timezone.now():
        raise FeedbackNotOpen()
    try:
        with transaction.atomic():
            return Feedback.objects.create(session=session, user=user, rating=rating, comment=comment), True
    except IntegrityError:
        pass
    with transaction.atomic():
        feedback = Feedback.objects.select_for_update().get(session=session, user=user)
        feedback.rating, feedback.comment = rating, comment
        feedback.save(update_fields=["rating", "comment", "updated_at"])
    return feedback, False
