"""
Live sessions: audience questions with upvotes, polls and feedback.

Every "one per person" rule is a unique constraint, so concurrent requests
settle in the database: a vote row exists or it does not, and counts are
``COUNT`` over those rows, never a counter that two requests could race on.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from conferences.models import Session


class QuestionStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    HIDDEN = "hidden", "Hidden"


class ModerationAction(models.TextChoices):
    HIDE = "hide", "Hide"
    ANSWER = "answer", "Mark answered"
    PIN = "pin", "Pin"
    UNPIN = "unpin", "Unpin"
    REOPEN = "reopen", "Reopen"


class Question(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="questions")
    # Kept even when asked anonymously: anonymity hides the author from the
    # audience, never from the moderators' audit (Django admin).
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="questions")
    text = models.CharField(max_length=500)
    is_anonymous = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=QuestionStatus.choices, default=QuestionStatus.OPEN)
    is_pinned = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    moderated_at = models.DateTimeField(null=True, blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-is_pinned", "created_at", "id"]
        indexes = [models.Index(fields=["session", "created_at"])]
        constraints = [models.CheckConstraint(condition=~Q(text=""), name="question_text_not_empty")]

    def __str__(self) -> str:
        return self.text[:60]


class QuestionVote(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="vote_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="question_votes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["question", "user"], name="question_vote_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} +1 {self.question_id}"


class QuestionModeration(models.Model):
    """The audit trail: who did what to a question, and when (``by`` is null for the admin key)."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="moderations")
    action = models.CharField(max_length=10, choices=ModerationAction.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.question_id}"


class PollStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Poll(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="polls")
    question = models.CharField(max_length=300)
    status = models.CharField(max_length=8, choices=PollStatus.choices, default=PollStatus.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.question[:60]


class PollOption(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="options")
    text = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["poll", "position"], name="poll_option_unique_position")]

    def __str__(self) -> str:
        return self.text


class PollVote(models.Model):
    """One row per person and poll; a new vote rewrites ``option`` in place (upsert)."""

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="vote_rows")
    option = models.ForeignKey(PollOption, on_delete=models.CASCADE, related_name="vote_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="poll_votes")
    voted_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["poll", "user"], name="poll_vote_unique")]
        indexes = [models.Index(fields=["option"])]

    def __str__(self) -> str:
        return f"{self.user_id} chose {self.option_id}"


class Feedback(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="session_feedback")
    rating = models.PositiveSmallIntegerField()
    comment = models.TextField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "feedback"
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="feedback_one_per_person"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="feedback_rating_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.session_id}"


class SessionFeedbackSummary(Session):
    """Sessions as the feedback admin lists them (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "session feedback"
        verbose_name_plural = "session feedback"
