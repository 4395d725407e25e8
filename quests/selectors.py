"""Quest reads, shaped for the API, the bot and broadcast audiences."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date

from django.db.models import Count, F, Max, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Greatest

from conferences.models import Conference, ConferenceOrganizer
from ibw.errors import NotFound
from quests import leaderboard
from quests.invites import checked_in_invitee_counts
from quests.models import (
    PointsEntry,
    Quest,
    QuestCompletion,
    Reward,
    RewardClaim,
    Submission,
    SubmissionStatus,
    Task,
    TaskType,
)
from users.models import User


def quests_visible_to(
    user: User | None, *, include_inactive: bool = False, conference: str | None = None
) -> QuerySet[Quest]:
    """
    Quests a caller may see, with conference and tasks loaded: active ones,
    inactive ones of the conferences ``user`` co-organizes (a subquery, no
    extra query), and every inactive one for admins (``include_inactive``).
    """
    quests = Quest.objects.select_related("conference").prefetch_related(
        Prefetch("tasks", queryset=Task.objects.order_by("order", "id"))
    )
    if not include_inactive:
        visible = Q(is_active=True)
        if user is not None:
            organized = ConferenceOrganizer.objects.filter(user=user).values("conference_id")
            visible |= Q(conference_id__in=organized)
        quests = quests.filter(visible)
    if conference:
        quests = quests.filter(conference__slug=conference)
    return quests.order_by("id")


def access_quest(user: User | None, quest_id: int, *, include_inactive: bool = False) -> Quest:
    quest = quests_visible_to(user, include_inactive=include_inactive).filter(pk=quest_id).first()
    if quest is None:
        raise NotFound("No such quest.")
    return quest


def access_task(user: User, *, quest_id: int, task_id: int) -> Task:
    """A task of an active quest, with its quest (and prerequisite) loaded, or ``NotFound``."""
    task = (
        Task.objects.select_related("quest__prerequisite", "quest__conference")
        .filter(pk=task_id, quest_id=quest_id, quest__is_active=True)
        .first()
    )
    if task is None:
        raise NotFound("No such task.")
    return task


def task_statuses_for(user: User | None, quests: Iterable[Quest]) -> dict[int, str]:
    """
    Map task id → the user's status for it in one query: ``approved`` if any
    submission was approved, else the status of the latest one.
    """
    if user is None or not user.is_authenticated:
        return {}
    quest_ids = [quest.pk for quest in quests]
    latest: dict[int, tuple] = {}
    statuses: dict[int, str] = {}
    rows = (
        Submission.objects.filter(user=user, task__quest_id__in=quest_ids)
        .values("task_id", "status")
        .annotate(at=Max("created_at"))
        .order_by()
    )
    for row in rows:
        task_id, status, at = row["task_id"], row["status"], row["at"]
        if statuses.get(task_id) == SubmissionStatus.APPROVED:
            continue
        if status == SubmissionStatus.APPROVED or task_id not in latest or at > latest[task_id]:
            latest[task_id] = at
            statuses[task_id] = status
    return statuses


def invite_progress_for(user: User | None, quests: Iterable[Quest]) -> dict[int, dict[str, int]]:
    """
    Map each invite task of ``quests`` → ``{"done", "needed"}`` for ``user``
    (``done`` capped at ``needed``), in one query whatever the number of
    quests; tasks must be prefetched.
    """
    if user is None or not user.is_authenticated:
        return {}
    invite_tasks = [
        (task, quest.conference_id) for quest in quests for task in quest.tasks.all() if task.type == TaskType.INVITE
    ]
    if not invite_tasks:
        return {}
    conference_ids = {conference_id for _, conference_id in invite_tasks if conference_id}
    counts = checked_in_invitee_counts(user.pk, conference_ids=conference_ids) if conference_ids else {}
    progress: dict[int, dict[str, int]] = {}
    for task, conference_id in invite_tasks:
        needed = task.config.get("count", 1)
        done = counts.get(conference_id, 0) if conference_id else 0
        progress[task.pk] = {"done": min(done, needed), "needed": needed}
    return progress


def access_invite_task(user: User, *, quest_id: int, task_id: int) -> Task:
    """An ``invite`` task of an active quest, or ``NotFound``."""
    task = access_task(user, quest_id=quest_id, task_id=task_id)
    if task.type != TaskType.INVITE:
        raise NotFound("This task is not an invite task.")
    return task


def rewards_of(quest: Quest) -> QuerySet[Reward]:
    """The quest's rewards in creation order, each with ``remaining`` (never below zero) counted in the query."""
    return (
        Reward.objects.filter(quest=quest)
        .annotate(remaining=Greatest(F("stock") - Count("claims"), Value(0)))
        .order_by("id")
    )


def access_reward(quest: Quest, reward_id: int) -> Reward:
    reward = Reward.objects.filter(quest=quest, pk=reward_id).first()
    if reward is None:
        raise NotFound("No such reward.")
    return reward


def claims_for_desk(claims: QuerySet[RewardClaim] | None = None) -> QuerySet[RewardClaim]:
    """Claims with their reward, quest, person and hander-out loaded, oldest first (the CSV export)."""
    claims = claims if claims is not None else RewardClaim.objects.all()
    return claims.select_related("reward__quest", "user", "handed_out_by").order_by("created_at", "id")


def progress_of(quest: Quest, statuses: dict[int, str]) -> dict[str, int]:
    tasks = list(quest.tasks.all())
    completed = sum(1 for task in tasks if statuses.get(task.pk) == SubmissionStatus.APPROVED)
    return {"completed": completed, "total": len(tasks)}


def quest_progress_for(user: User) -> list[dict]:
    """``[{"title", "completed", "total"}]`` for every active quest, in id order (the bot's /quests)."""
    quests = list(quests_visible_to(user))
    statuses = task_statuses_for(user, quests)
    return [{"title": quest.title, **progress_of(quest, statuses)} for quest in quests]


def users_who_completed(quest_id: int) -> QuerySet[User]:
    """Users who completed every task of the quest (broadcast audiences)."""
    return User.objects.filter(
        pk__in=QuestCompletion.objects.filter(quest_id=quest_id).values("user_id"), is_active=True
    )


def submissions_for_review(
    *, status: str | None = None, quest_id: int | None = None, conference_ids: Collection[int] | None = None
) -> QuerySet[Submission]:
    """Submissions newest first; ``conference_ids`` limits them to those conferences' quests (co-organizers)."""
    submissions = Submission.objects.select_related("task", "user", "photo").order_by("-created_at", "-id")
    if conference_ids is not None:
        submissions = submissions.filter(task__quest__conference_id__in=conference_ids)
    if status:
        submissions = submissions.filter(status=status)
    if quest_id:
        submissions = submissions.filter(task__quest_id=quest_id)
    return submissions


def access_submission(submission_id: int) -> Submission:
    submission = Submission.objects.select_related("task__quest", "user", "photo").filter(pk=submission_id).first()
    if submission is None:
        raise NotFound("No such submission.")
    return submission


def points_history(user: User) -> QuerySet[PointsEntry]:
    """The user's ledger, newest first."""
    return PointsEntry.objects.filter(user=user).order_by("-created_at", "-id")


def points_total(user: User) -> int:
    """Return ``user``'s points as stored now (the ledger's sum, kept on the user row), not a cached copy."""
    return User.objects.filter(pk=user.pk).values_list("points", flat=True).get()


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    user: User
    points: int


@dataclass(frozen=True)
class Leaderboard:
    rows: list[LeaderboardRow]
    me: leaderboard.Standing | None
    source: str


def leaderboard_for(
    conference: Conference | None, *, limit: int, user: User | None, day: date | None = None
) -> Leaderboard:
    """
    Return the top ``limit`` of ``conference``'s board (the global one for
    ``None``; with ``day``, that conference day's sprint) with each person's
    user, and ``user``'s own standing. Read from Redis while its boards are
    built, else from SQL (``source`` says which); two queries for the users
    whatever the limit.
    """
    user_id = user.pk if user else None
    if day is not None and conference is not None:
        board = leaderboard.day_standings(conference, day, limit=limit, user_id=user_id)
    else:
        board = leaderboard.standings(conference.pk if conference is not None else None, limit=limit, user_id=user_id)
    users = User.objects.in_bulk([row.user_id for row in board.rows])
    rows = [
        LeaderboardRow(rank=row.rank, user=users[row.user_id], points=row.points)
        for row in board.rows
        # A user deleted since the board was built drops out rather than failing the read.
        if row.user_id in users
    ]
    return Leaderboard(rows=rows, me=board.me, source=board.source)


def quest_exists(quest_id: int) -> bool:
    return Quest.objects.filter(pk=quest_id).exists()


@dataclass(frozen=True)
class QuestFunnel:
    quest_id: int
    title: str
    tasks: int
    # (stage label, people), each stage a subset of the one before.
    stages: list[tuple[str, int]]


def quest_funnels(conference_id: int) -> list[QuestFunnel]:
    """
    Each quest of a conference as a completion funnel (two queries): the
    people who submitted anything, who have at least 1, 2, … N tasks
    approved, and who completed the quest (its ``QuestCompletion``).
    """
    quests = list(
        Quest.objects.filter(conference_id=conference_id)
        .annotate(task_total=Count("tasks", distinct=True), completed=Count("completions", distinct=True))
        .order_by("id")
    )
    approved_per_person = (
        Submission.objects.filter(task__quest__in=[quest.pk for quest in quests])
        .values("task__quest_id", "user_id")
        .annotate(approved=Count("task_id", filter=Q(status=SubmissionStatus.APPROVED), distinct=True))
        .order_by()
    )
    people: dict[int, list[int]] = {quest.pk: [] for quest in quests}
    for row in approved_per_person:
        people[row["task__quest_id"]].append(row["approved"])
    funnels = []
    for quest in quests:
        approved = people[quest.pk]
        stages = [("Submitted something", len(approved))]
        for done in range(1, quest.task_total + 1):
            label = f"{done} task approved" if done == 1 else f"{done} tasks approved"
            stages.append((label, sum(1 for n in approved if n >= done)))
        stages.append(("Completed", quest.completed))
        funnels.append(QuestFunnel(quest_id=quest.pk, title=quest.title, tasks=quest.task_total, stages=stages))
    return funnels


def quest_in_conference(quest_id: int, *, slug: str) -> bool:
    """Whether the quest belongs to the conference ``slug`` (a broadcast to its completers stays there)."""
    return Quest.objects.filter(pk=quest_id, conference__slug=slug).exists()
