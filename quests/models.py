"""
Quests: tasks people complete for points, their submissions, and the points
ledger that is the single source of every user's total.

The database enforces the invariants that keep points honest under
concurrency: one approved submission per (task, user), one pending per
(task, user), one ledger row per (user, source), one completion per (user,
quest).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Quest(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    conference = models.ForeignKey(
        "conferences.Conference", null=True, blank=True, on_delete=models.CASCADE, related_name="quests"
    )
    # Empty bounds mean "open since ever" / "open for ever".
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    bonus_points = models.PositiveIntegerField(default=0, help_text="Awarded once when every task is approved.")
    is_active = models.BooleanField(default=True, help_text="Inactive quests are hidden from attendees.")
    prerequisite = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="unlocks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="quest_window_ordered",
            ),
            models.CheckConstraint(condition=~Q(prerequisite=F("id")), name="quest_not_own_prerequisite"),
        ]

    def __str__(self) -> str:
        return self.title

    def is_open(self, at: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= at) and (self.ends_at is None or at < self.ends_at)


class TaskType(models.TextChoices):
    CODE = "code", "Secret code"
    QUIZ = "quiz", "Quiz question"
    TELEGRAM_JOIN = "telegram_join", "Join a Telegram chat"
    CONFERENCE_CHECKIN = "conference_checkin", "Check in at the conference"
    EVENT_CHECKIN = "event_checkin", "Check in at a side event"
    CONNECTIONS = "connections", "Make connections"
    PROOF = "proof", "Proof, reviewed by hand"
    INVITE = "invite", "Invite people who check in"


class Task(models.Model):
    """
    One step of a quest. ``config`` is stored as ``quests.verification``
    cleaned it: codes and quiz answers only as hashes; only the type's public
    keys ever leave the server.
    """

    quest = models.ForeignKey(Quest, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    type = models.CharField(max_length=20, choices=TaskType.choices)
    points = models.PositiveIntegerField(default=10)
    order = models.PositiveIntegerField(default=0)
    config = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["order", "id"]
        indexes = [models.Index(fields=["quest", "order"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.type})"


class SubmissionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Submission(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="submissions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quest_submissions")
    status = models.CharField(max_length=10, choices=SubmissionStatus.choices)
    # Answers to codes and quizzes are never stored: they are near-secrets.
    proof_url = models.URLField(max_length=500, blank=True)
    text = models.TextField(blank=True, max_length=2000)
    # A photo proof: a direct upload, used by this submission only (one-to-one).
    photo = models.OneToOneField(
        "uploads.Upload", null=True, blank=True, on_delete=models.SET_NULL, related_name="submission"
    )
    reason = models.CharField(max_length=500, blank=True)
    # A rejected code/quiz answer; counted for the wrong-answer throttle.
    is_wrong_answer = models.BooleanField(default=False)
    points_awarded = models.PositiveIntegerField(default=0)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "user"], condition=Q(status="approved"), name="submission_one_approved"
            ),
            models.UniqueConstraint(
                fields=["task", "user"], condition=Q(status="pending"), name="submission_one_pending"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "task", "status"]),
            models.Index(fields=["status", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on task {self.task_id}: {self.status}"


class QuestCompletion(models.Model):
    """Written in the transaction that approves a quest's last task; unlocks dependants."""

    quest = models.ForeignKey(Quest, on_delete=models.CASCADE, related_name="completions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quest_completions")
    completed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["quest", "user"], name="quest_completion_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} completed {self.quest_id}"


class PointsEntry(models.Model):
    """
    One award, append-only. ``source`` names what earned it (``task:<id>``,
    ``quest:<id>:bonus``); unique per user, so an award is never written
    twice. ``conference`` is the awarding quest's conference at award time:
    a conference's leaderboard sums exactly these rows.

    ``user`` is null once that person erased their account (``privacy``):
    the row stays, so totals of what was given out remain true, but counts
    on no leaderboard.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="points_entries"
    )
    points = models.IntegerField()
    reason = models.CharField(max_length=300)
    source = models.CharField(max_length=100)
    quest = models.ForeignKey(Quest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    conference = models.ForeignKey(
        "conferences.Conference", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "points entries"
        constraints = [models.UniqueConstraint(fields=["user", "source"], name="points_entry_unique_source")]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["conference", "user"]),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} to {self.user_id}: {self.reason}"


# --- invites -------------------------------------------------------------------------------

_CLAIM_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at a desk


def new_invite_code() -> str:
    """12 URL-safe characters (72 random bits): fits Telegram's ``start`` after ``inv_``."""
    return secrets.token_urlsafe(9)


def new_claim_code() -> str:
    """10 characters from a 32-letter alphabet (50 random bits), shown at the reward desk."""
    return "".join(secrets.choice(_CLAIM_ALPHABET) for _ in range(10))


class InviteCode(models.Model):
    """A user's one invite code, the same for every invite task."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invite_code")
    code = models.CharField(max_length=16, unique=True, default=new_invite_code)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.code}"


class Invitation(models.Model):
    """
    ``invitee`` was invited by ``inviter``: one inviter per invitee (unique),
    never oneself (check). ``created_at`` is the invite time: an invitee
    counts at a conference only if they registered for it after this.
    """

    inviter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations_sent")
    invitee = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitation")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(inviter=F("invitee")), name="invitation_not_self")]
        indexes = [models.Index(fields=["inviter", "created_at"])]

    def __str__(self) -> str:
        return f"{self.inviter_id} invited {self.invitee_id}"


# --- rewards -------------------------------------------------------------------------------


class Reward(models.Model):
    """A prize with ``stock`` items for people who complete ``quest``."""

    quest = models.ForeignKey(Quest, on_delete=models.CASCADE, related_name="rewards")
    title = models.CharField(max_length=200)
    stock = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.stock})"


class RewardClaim(models.Model):
    """
    One person's claim of one reward; ``code`` is shown at the desk, ``handed_out_at`` set there.
    ``user`` is null once that person erased their account: the item stays taken from the stock.
    """

    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="claims")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reward_claims"
    )
    code = models.CharField(max_length=16, unique=True, default=new_claim_code)
    created_at = models.DateTimeField(auto_now_add=True)
    handed_out_at = models.DateTimeField(null=True, blank=True)
    handed_out_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["reward", "user"], name="reward_claim_one_per_user")]

    def __str__(self) -> str:
        return f"{self.code} ({self.reward_id} to {self.user_id})"


# --- sprints -------------------------------------------------------------------------------


class SprintWin(models.Model):
    """``user`` placed ``rank`` in ``conference``'s sprint of ``day``; unique, so told once."""

    conference = models.ForeignKey("conferences.Conference", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sprint_wins")
    rank = models.PositiveIntegerField()
    points = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conference", "day", "rank", "user"]
        constraints = [models.UniqueConstraint(fields=["conference", "day", "user"], name="sprint_win_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} #{self.rank} on {self.day}"
