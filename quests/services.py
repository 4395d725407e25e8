"""
Quest writes: creating quests, submitting and reviewing tasks, awarding
points.

Locking contract: every write that can award points first locks the
submitting user's row (``SELECT … FOR UPDATE``), so one user's submissions
are serialised; the partial unique constraints on ``Submission`` and the
unique ``(user, source)`` of ``PointsEntry`` stand behind that lock. Side
effects — the leaderboard, socket pushes, Celery re-checks — run after
commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from conferences.models import Attendance, AttendanceStatus, Conference
from ibw.errors import RateLimited, ValidationFailed
from ibw.tasks import enqueue_on_commit
from notifications.models import NotificationKind
from notifications.realtime import publish_to_user
from notifications.services import cut, notify
from quests import leaderboard, tasks
from quests.errors import (
    AlreadyCompleted,
    AlreadyInvited,
    AlreadyReviewed,
    OutOfStock,
    QuestClosed,
    QuestLocked,
    QuestNotCompleted,
    SubmissionPending,
    WrongAnswer,
)
from quests.invites import checked_in_invitee_count, inviters_reaching
from quests.models import (
    Invitation,
    InviteCode,
    PointsEntry,
    Quest,
    QuestCompletion,
    Reward,
    RewardClaim,
    SprintWin,
    Submission,
    SubmissionStatus,
    Task,
    TaskType,
)
from quests.verification import Attempt, Outcome, strategy_for
from uploads.models import UploadPurpose
from uploads.services import consume_upload
from users.models import User

logger = structlog.get_logger(__name__)

REASON_MAX = PointsEntry._meta.get_field("reason").max_length or 300

WRONG_ANSWER_LIMIT = 5
WRONG_ANSWER_WINDOW = timedelta(minutes=10)


# --- quests ----------------------------------------------------------------------------


def clean_task_config(task_type: str, config: Any, *, conference_id: int | None) -> dict:
    """
    Validate ``config`` for ``task_type`` and return what is stored (codes and
    answers hashed). Raises Django's ``ValidationError``. The API and the
    admin both save configs through here.
    """
    if task_type == TaskType.CONFERENCE_CHECKIN and not conference_id:
        raise ValidationError("A conference check-in task needs the quest to belong to a conference.")
    if task_type == TaskType.INVITE and not conference_id:
        raise ValidationError("An invite task needs the quest to belong to a conference: invitees count there.")
    return strategy_for(task_type).clean_config(config if config is not None else {})


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [message for messages in error.message_dict.values() for message in messages]
    return list(error.messages)


def create_quest(
    *,
    title: str,
    description: str = "",
    conference=None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    bonus_points: int = 0,
    prerequisite: Quest | None = None,
    is_active: bool = True,
    tasks: Iterable[dict] = (),
) -> Quest:
    """
    Create a quest and its tasks (kept in the given order). Each task is
    ``{"title", "type", "points", "config"}``; configs are cleaned here.
    Raises ``ValidationFailed`` naming the task that is wrong.
    """
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationFailed("ends_at must be after starts_at.", details={"ends_at": ["Must be after starts_at."]})
    conference_id = conference.pk if conference else None
    tasks = list(tasks)
    cleaned: list[dict] = []
    errors: list[dict] = []
    for spec in tasks:
        try:
            cleaned.append(clean_task_config(spec["type"], spec.get("config"), conference_id=conference_id))
            errors.append({})
        except ValidationError as exc:
            errors.append({"config": _messages(exc)})
    if any(errors):
        first = next(e for e in errors if e)["config"][0]
        raise ValidationFailed(f"tasks: {first}", details={"tasks": errors})
    with transaction.atomic():
        if prerequisite is not None:
            _lock_prerequisite_graph()
        quest = Quest.objects.create(
            title=title,
            description=description,
            conference=conference,
            starts_at=starts_at,
            ends_at=ends_at,
            bonus_points=bonus_points,
            prerequisite=prerequisite,
            is_active=is_active,
        )
        Task.objects.bulk_create(
            [
                Task(
                    quest=quest,
                    title=spec["title"],
                    type=spec["type"],
                    points=spec.get("points", 10),
                    order=index,
                    config=config,
                )
                for index, (spec, config) in enumerate(zip(tasks, cleaned, strict=True))
            ]
        )
    return quest


def _lock_prerequisite_graph() -> None:
    """
    Serialise prerequisite edits: two admins linking A → B and B → A at the
    same moment would each see no cycle. A transaction-scoped advisory lock
    on PostgreSQL; SQLite runs one writer at a time anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('quests.prerequisite'))")


def check_prerequisite(quest: Quest, prerequisite: Quest | None) -> None:
    """
    Raise ``ValidationError`` when making ``prerequisite`` the prerequisite
    of ``quest`` would close a cycle (``quest`` itself included): nobody
    could ever open any quest on it.
    """
    if prerequisite is None:
        return
    chain = [quest.title]
    seen: set[int] = set()
    current: Quest | None = prerequisite
    while current is not None and current.pk not in seen:
        chain.append(current.title)
        if quest.pk is not None and current.pk == quest.pk:
            raise ValidationError(
                "This prerequisite makes a cycle: " + " → ".join(chain) + ". Nobody could ever start these quests.",
                code="prerequisite_cycle",
            )
        seen.add(current.pk)
        current = Quest.objects.filter(pk=current.prerequisite_id).first() if current.prerequisite_id else None


def save_quest(quest: Quest) -> Quest:
    """
    Save an edited ``quest`` (the Django admin's path), refusing a
    prerequisite cycle with ``ValidationError``. Holds the prerequisite lock
    while checking and saving, so racing edits cannot make a cycle together.
    """
    with transaction.atomic():
        _lock_prerequisite_graph()
        check_prerequisite(quest, quest.prerequisite)
        quest.save()
    return quest


def create_demo_quest(conference) -> Quest:
    """The demo conference's quest (idempotent: found by conference and title)."""
    title = "Explore IBW"
    existing = Quest.objects.filter(conference=conference, title=title).first()
    if existing:
        return existing
    return create_quest(
        title=title,
        description="Find the code at the registration desk, answer a question, meet people, share a photo.",
        conference=conference,
        bonus_points=50,
        tasks=[
            {"title": "Check in at the venue", "type": TaskType.CONFERENCE_CHECKIN, "points": 20, "config": {}},
            {"title": "Find the secret code", "type": TaskType.CODE, "points": 30, "config": {"code": "BOSPHORUS"}},
            {
                "title": "Where is IBW held?",
                "type": TaskType.QUIZ,
                "points": 10,
                "config": {"question": "In which city is IBW held?", "answers": ["Istanbul", "İstanbul"]},
            },
            {"title": "Make three connections", "type": TaskType.CONNECTIONS, "points": 30, "config": {"count": 3}},
            {"title": "Share a photo of the stage", "type": TaskType.PROOF, "points": 20, "config": {"kind": "url"}},
        ],
    )


# --- submissions -------------------------------------------------------------------------


def _lock_user(user_id: int) -> User:
    return User.objects.select_for_update().get(pk=user_id)


def _has_approved(task: Task, user_id: int) -> bool:
    return Submission.objects.filter(task=task, user_id=user_id, status=SubmissionStatus.APPROVED).exists()


def _check_wrong_answer_rate(task: Task, user_id: int, now: datetime) -> None:
    recent = list(
        Submission.objects.filter(
            task=task, user_id=user_id, is_wrong_answer=True, created_at__gte=now - WRONG_ANSWER_WINDOW
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:WRONG_ANSWER_LIMIT]
    )
    if len(recent) >= WRONG_ANSWER_LIMIT:
        # Allowed again once the oldest of the last LIMIT wrong answers leaves the window.
        wait = (recent[-1] + WRONG_ANSWER_WINDOW - now).total_seconds()
        raise RateLimited("Too many wrong answers to this task; try again later.", retry_after=int(wait) + 1)


def submit_task(
    task: Task, *, user: User, answer: str = "", proof_url: str = "", text: str = "", upload: int | None = None
) -> Submission:
    """
    Verify ``user``'s attempt at ``task``; record it; award its points once.

    Raises ``QuestClosed``, ``QuestLocked``, ``AlreadyCompleted``,
    ``SubmissionPending`` (a proof awaiting review), ``RateLimited`` (more
    than ``WRONG_ANSWER_LIMIT`` wrong answers in ``WRONG_ANSWER_WINDOW``) and
    ``WrongAnswer`` — the last after the wrong answer is committed, so it
    counts. Verification (which may call Telegram) runs before the
    transaction; inside it the user's row is locked and every check is
    repeated, so racing identical submissions approve exactly one. A
    ``telegram_join`` left pending is re-checked by a Celery task after commit.
    A photo proof uses the upload ``upload`` in the same transaction
    (``consume_upload``: 409 ``UPLOAD_USED`` the second time, 404 for
    someone else's), so a refused submission leaves the upload usable.
    """
    quest = task.quest
    now = timezone.now()
    if not quest.is_open(now):
        raise QuestClosed()
    if quest.prerequisite_id and not QuestCompletion.objects.filter(quest_id=quest.prerequisite_id, user=user).exists():
        prerequisite = quest.prerequisite
        raise QuestLocked(f"Complete “{prerequisite.title if prerequisite else 'the previous quest'}” first.")
    strategy = strategy_for(task.type)
    is_photo = task.type == TaskType.PROOF and task.config.get("kind") == "photo"
    attempt = Attempt(
        answer=answer.strip(), proof_url=proof_url.strip(), text=text.strip(), upload=upload if is_photo else None
    )
    needed = strategy.required_input(task)
    if needed and not getattr(attempt, needed):
        raise ValidationFailed(f"{needed}: This field is required.", details={needed: ["This field is required."]})
    if _has_approved(task, user.pk):
        raise AlreadyCompleted()
    checks_answers = task.type in (TaskType.CODE, TaskType.QUIZ)
    if checks_answers:
        _check_wrong_answer_rate(task, user.pk, now)
    if (
        task.type == TaskType.PROOF
        and Submission.objects.filter(task=task, user=user, status=SubmissionStatus.PENDING).exists()
    ):
        raise SubmissionPending()

    outcome = strategy.verify(task, user=user, attempt=attempt)

    with transaction.atomic():
        _lock_user(user.pk)
        if _has_approved(task, user.pk):
            raise AlreadyCompleted()
        if checks_answers:
            _check_wrong_answer_rate(task, user.pk, now)
        pending = (
            Submission.objects.select_for_update().filter(task=task, user=user, status=SubmissionStatus.PENDING).first()
        )
        if pending is not None and task.type == TaskType.PROOF:
            raise SubmissionPending()
        submission = pending or Submission(task=task, user=user)
        submission.proof_url = attempt.proof_url
        submission.text = attempt.text
        if attempt.upload is not None:
            submission.photo = consume_upload(attempt.upload, owner=user, purpose=UploadPurpose.PROOF)
        _apply_outcome(submission, outcome)
    if outcome.is_wrong_answer:
        raise WrongAnswer(outcome.reason)
    return submission


def _apply_outcome(submission: Submission, outcome: Outcome) -> None:
    """Record ``outcome`` on ``submission`` and award on approval. Call inside the user's lock."""
    submission.status = outcome.status
    submission.reason = outcome.reason
    submission.is_wrong_answer = outcome.is_wrong_answer
    try:
        with transaction.atomic():
            submission.save()
    except IntegrityError as exc:
        # The partial unique index saw an approval the lock should have: never award twice.
        raise AlreadyCompleted() from exc
    if outcome.status == SubmissionStatus.APPROVED:
        _award_submission(submission)
    elif outcome.status == SubmissionStatus.PENDING and outcome.recheck_after is not None:
        # Broker down: the request still succeeds and the row stays pending.
        enqueue_on_commit(tasks.recheck_submission_task, countdown=outcome.recheck_after, submission_id=submission.pk)


def award_points(
    user_id: int, *, points: int, reason: str, source: str, quest: Quest | None = None, publish: bool = True
) -> bool:
    """
    Append a ledger row and add it to ``User.points`` in the same
    transaction; return False (and change nothing) when ``source`` was
    already awarded to this user. Call inside the user's lock. With
    ``publish``, updates the leaderboard and pushes the user's new standing
    after commit (callers awarding several rows at once publish once).
    ``reason`` is a label for people (cut to its column: a 200-character
    quest and task title make a longer one); ``source`` names the award exactly.
    """
    if points <= 0:
        return False
    conference_id = quest.conference_id if quest else None
    reason = cut(reason, REASON_MAX)
    try:
        with transaction.atomic():
            PointsEntry.objects.create(
                user_id=user_id, points=points, reason=reason, source=source, quest=quest, conference_id=conference_id
            )
    except IntegrityError:
        return False
    User.objects.filter(pk=user_id).update(points=F("points") + points)
    if publish:
        transaction.on_commit(lambda: publish_standing(user_id, conference_id=conference_id))
    return True


def _award_submission(submission: Submission) -> None:
    task = submission.task
    quest = task.quest
    awarded = 0
    if award_points(
        submission.user_id,
        points=task.points,
        reason=f"{quest.title}: {task.title}",
        source=f"task:{task.pk}",
        quest=quest,
        publish=False,
    ):
        awarded += task.points
    task_ids = set(quest.tasks.values_list("id", flat=True))
    done = set(
        Submission.objects.filter(
            task_id__in=task_ids, user_id=submission.user_id, status=SubmissionStatus.APPROVED
        ).values_list("task_id", flat=True)
    )
    if task_ids and task_ids <= done:
        _, created = QuestCompletion.objects.get_or_create(quest=quest, user_id=submission.user_id)
        if created and award_points(
            submission.user_id,
            points=quest.bonus_points,
            reason=f"{quest.title}: every task done",
            source=f"quest:{quest.pk}:bonus",
            quest=quest,
            publish=False,
        ):
            awarded += quest.bonus_points
    if awarded:
        user_id, conference_id = submission.user_id, quest.conference_id
        transaction.on_commit(lambda: publish_standing(user_id, conference_id=conference_id))
    if awarded != submission.points_awarded:
        submission.points_awarded = awarded
        submission.save(update_fields=["points_awarded", "updated_at"])


def publish_standing(user_id: int, *, conference_id: int | None) -> None:
    """
    Sync the user's totals into Redis and push their standing on each board
    the award touched. Best effort: the ledger is the truth and
    ``rebuild_leaderboard`` repairs Redis.
    """
    try:
        leaderboard.sync_user(user_id, conference_id=conference_id)
    except Exception as exc:  # Redis down: reads fall back to SQL
        logger.warning("leaderboard_sync_failed", user_id=user_id, error=str(exc))
    scopes: list[tuple[int | None, str | None]] = [(None, None)]
    if conference_id:
        slug = Conference.objects.filter(pk=conference_id).values_list("slug", flat=True).first()
        scopes.append((conference_id, slug))
    for scope, slug in scopes:
        standing = leaderboard.standing_of(user_id, scope)
        if standing is not None:
            publish_to_user(
                user_id,
                {"type": "leaderboard", "conference": slug, "points": standing.points, "rank": standing.rank},
            )


# --- re-checks and reviews ----------------------------------------------------------------


def recheck_submission(submission_id: int) -> float | None:
    """
    Verify a pending automatic submission again (``telegram_join`` whose
    check could not run). Return seconds to wait before another try while it
    stays pending, else None. Idempotent: a decided submission is left alone.
    """
    submission = (
        Submission.objects.select_related("task__quest", "user")
        .filter(pk=submission_id, status=SubmissionStatus.PENDING, task__type=TaskType.TELEGRAM_JOIN)
        .first()
    )
    if submission is None:
        return None
    outcome = strategy_for(submission.task.type).verify(submission.task, user=submission.user, attempt=Attempt())
    if outcome.status == SubmissionStatus.PENDING:
        return outcome.recheck_after
    with transaction.atomic():
        _lock_user(submission.user_id)
        submission = (
            Submission.objects.select_for_update()
            .select_related("task__quest", "user")
            .filter(pk=submission_id, status=SubmissionStatus.PENDING)
            .first()
        )
        if submission is None:
            return None
        if outcome.status == SubmissionStatus.APPROVED and _has_approved(submission.task, submission.user_id):
            outcome = Outcome(SubmissionStatus.REJECTED, "You had already completed this task.")
        _apply_outcome(submission, outcome)
        _notify_decision(submission)
    return None


def review_submission(
    submission: Submission, *, decision: str, reason: str = "", reviewer: User | None = None
) -> Submission:
    """
    Approve or reject a pending submission (``decision`` is ``approve`` or
    ``reject``); approval awards the task's points (and the quest's bonus)
    once. Raises ``AlreadyReviewed`` for a decided submission. The user is
    notified; the admin API and the Django admin actions both call this.
    """
    with transaction.atomic():
        _lock_user(submission.user_id)
        locked = (
            Submission.objects.select_for_update()
            .select_related("task__quest", "user")
            .filter(pk=submission.pk)
            .first()
        )
        if locked is None or locked.status != SubmissionStatus.PENDING:
            raise AlreadyReviewed()
        if decision == "approve":
            if _has_approved(locked.task, locked.user_id):
                raise AlreadyCompleted("This user has already completed this task.")
            outcome = Outcome(SubmissionStatus.APPROVED, reason)
        else:
            outcome = Outcome(SubmissionStatus.REJECTED, reason or "Rejected by an organiser.")
        locked.reviewer = reviewer
        locked.reviewed_at = timezone.now()
        _apply_outcome(locked, outcome)
        _notify_decision(locked)
    return locked


def _notify_decision(submission: Submission) -> None:
    task = submission.task
    approved = submission.status == SubmissionStatus.APPROVED
    if approved:
        title = f"“{task.title}” approved"
        body = f"You earned {submission.points_awarded} points in {task.quest.title}."
    else:
        title = f"“{task.title}” not accepted"
        body = submission.reason
    notify(
        submission.user,
        kind=NotificationKind.SUBMISSION_REVIEWED,
        title=title,
        body=body,
        data={
            "submission": submission.pk,
            "quest": task.quest_id,
            "task": task.pk,
            "status": submission.status,
            "points_awarded": submission.points_awarded,
        },
    )


# --- invites --------------------------------------------------------------------------------

INVITE_PREFIX = "inv_"


def invite_code_for(user: User) -> InviteCode:
    """Return ``user``'s invite code, creating it once (racing first calls get the same row)."""
    found = InviteCode.objects.filter(user=user).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return InviteCode.objects.create(user=user)
    except IntegrityError:
        return InviteCode.objects.get(user=user)


def invite_link(code: InviteCode) -> str:
    """The bot deep link that records an invite: ``/start inv_<code>``."""
    return f"https://t.me/{settings.TELEGRAM_BOT_USERNAME}?start={INVITE_PREFIX}{code.code}"


def accept_invite(user: User, *, code: str) -> tuple[Invitation, bool]:
    """
    Record that the owner of ``code`` invited ``user``; return the invitation
    and whether it is new. The same inviter again returns the existing one.
    Raises ``ValidationFailed`` for an unknown code or one's own code and
    ``AlreadyInvited`` when someone else invited ``user`` first (one inviter
    per invitee: a unique column settles racing invites).
    """
    owner_id = InviteCode.objects.filter(code=code.strip()).values_list("user_id", flat=True).first()
    if owner_id is None:
        raise ValidationFailed("No one has this invite code.", details={"code": ["No one has this invite code."]})
    if owner_id == user.pk:
        raise ValidationFailed("You cannot invite yourself.", details={"code": ["This is your own invite code."]})
    try:
        with transaction.atomic():
            return Invitation.objects.create(inviter_id=owner_id, invitee=user), True
    except IntegrityError:
        existing = Invitation.objects.get(invitee=user)
    if existing.inviter_id != owner_id:
        raise AlreadyInvited()
    return existing, False


def count_invite_checkin(attendance_id: int) -> int:
    """
    A first check-in happened (``conferences`` enqueues this by name): give
    the attendee's inviter every invite task of that conference whose count
    is now reached. Return how many tasks were approved. Idempotent.
    """
    attendance = (
        Attendance.objects.filter(pk=attendance_id, status=AttendanceStatus.CHECKED_IN)
        .values("user_id", "conference_id")
        .first()
    )
    if attendance is None:
        return 0
    inviter_id = (
        Invitation.objects.filter(invitee_id=attendance["user_id"]).values_list("inviter_id", flat=True).first()
    )
    if inviter_id is None:
        return 0
    return complete_invite_tasks(inviter_id, conference_id=attendance["conference_id"])


def complete_invite_tasks(inviter_id: int, *, conference_id: int) -> int:
    """
    Approve, without a submission from the inviter, each open invite task of
    ``conference_id`` whose count ``inviter_id`` has reached, and award it
    through the ledger like any approval (task points, quest bonus). Return
    how many were approved now.

    Locks the inviter's row per task and re-checks inside it, so racing
    check-ins (and a reconciliation run) approve and award exactly once; the
    ``submission_one_approved`` and ledger ``(user, source)`` constraints
    stand behind the lock. The inviter is notified on commit.
    """
    tasks_ = list(
        Task.objects.select_related("quest__prerequisite", "quest__conference").filter(
            type=TaskType.INVITE, quest__conference_id=conference_id, quest__is_active=True
        )
    )
    if not tasks_:
        return 0
    now = timezone.now()
    have = checked_in_invitee_count(inviter_id, conference_id=conference_id)
    approved = 0
    for task in tasks_:
        quest = task.quest
        if have < task.config.get("count", 1) or not quest.is_open(now):
            continue
        if (
            quest.prerequisite_id
            and not QuestCompletion.objects.filter(quest_id=quest.prerequisite_id, user_id=inviter_id).exists()
        ):
            continue
        with transaction.atomic():
            _lock_user(inviter_id)
            if _has_approved(task, inviter_id):
                continue
            submission = (
                Submission.objects.select_for_update()
                .filter(task=task, user_id=inviter_id, status=SubmissionStatus.PENDING)
                .first()
            ) or Submission(task=task, user_id=inviter_id)
            _apply_outcome(submission, Outcome(SubmissionStatus.APPROVED, f"{have} people you invited checked in."))
            _notify_decision(submission)
            approved += 1
    return approved


def reconcile_invites() -> int:
    """
    The safety net for check-ins whose task was never queued (broker down):
    complete every invite task of open quests that someone has reached.
    Return how many were approved. Idempotent.
    """
    approved = 0
    now = timezone.now()
    for task in Task.objects.select_related("quest").filter(type=TaskType.INVITE, quest__is_active=True):
        if not task.quest.conference_id or not task.quest.is_open(now):
            continue
        for inviter_id in inviters_reaching(task.quest.conference_id, count=task.config.get("count", 1)):
            if not Submission.objects.filter(task=task, user_id=inviter_id, status=SubmissionStatus.APPROVED).exists():
                approved += complete_invite_tasks(inviter_id, conference_id=task.quest.conference_id)
    return approved


# --- rewards --------------------------------------------------------------------------------


def create_reward(quest: Quest, *, title: str, stock: int) -> Reward:
    """Offer ``stock`` items of ``title`` to people who complete ``quest``."""
    return Reward.objects.create(quest=quest, title=title, stock=stock)


def claim_reward(reward: Reward, *, user: User) -> tuple[RewardClaim, bool]:
    """
    Give ``user`` one of ``reward``'s items; return the claim and whether it
    is new (a second call returns the first claim, even once stock is gone).

    Raises ``QuestNotCompleted`` unless ``user`` completed every task of the
    reward's quest, and ``OutOfStock`` once ``stock`` claims exist. Locks the
    reward row, so however many claims race exactly ``stock`` succeed; the
    unique ``(reward, user)`` keeps it to one per person.
    """
    existing = RewardClaim.objects.filter(reward=reward, user=user).first()
    if existing is not None:
        return existing, False
    if not QuestCompletion.objects.filter(quest_id=reward.quest_id, user=user).exists():
        raise QuestNotCompleted()
    with transaction.atomic():
        locked = Reward.objects.select_for_update().get(pk=reward.pk)
        existing = RewardClaim.objects.filter(reward=locked, user=user).first()
        if existing is not None:
            return existing, False
        if RewardClaim.objects.filter(reward=locked).count() >= locked.stock:
            raise OutOfStock()
        return RewardClaim.objects.create(reward=locked, user=user), True


def hand_out_claims(claims: QuerySet[RewardClaim], *, by: User | None) -> int:
    """
    Mark ``claims`` handed out at the desk, now and by ``by``; return how many
    changed. Idempotent: a claim already handed out keeps its first time
    and person (conditional UPDATE).
    """
    return claims.filter(handed_out_at__isnull=True).update(handed_out_at=timezone.now(), handed_out_by=by)


# --- sprints ---------------------------------------------------------------------------------

# A day's sprint is decided this long after local midnight: awards committing
# across midnight have landed by then.
SPRINT_GRACE = timedelta(minutes=5)
# Days that ended longer ago than this are not looked at again.
SPRINT_LOOKBACK = timedelta(days=3)


def award_sprint_winners(*, now: datetime | None = None) -> int:
    """
    For every conference day that ended (local midnight + ``SPRINT_GRACE``)
    within ``SPRINT_LOOKBACK``, record the top ``SPRINT_WINNERS`` of that
    day's sprint (by competition rank, so a tie at the last place includes
    everyone tied) and notify each one ``sprint_won``. Return the number of
    new winners.

    Idempotent, also under two beats at once: ``SprintWin`` is unique per
    (conference, day, user), the row and its notification share a
    transaction, and a row that already exists is neither written nor told.
    The ledger decides (SQL), not Redis.
    """
    now = now or timezone.now()
    winners_per_day = settings.SPRINT_WINNERS
    today_utc = now.date()
    created = 0
    conferences = Conference.objects.filter(
        starts_on__lte=today_utc + timedelta(days=1), ends_on__gte=(now - SPRINT_LOOKBACK).date() - timedelta(days=1)
    )
    for conference in conferences:
        day = conference.starts_on
        while day <= conference.ends_on:
            _, day_end = leaderboard.day_bounds(conference.timezone, day)
            if now - SPRINT_LOOKBACK <= day_end + SPRINT_GRACE <= now:
                created += _award_sprint_day(conference, day, winners=winners_per_day)
            day += timedelta(days=1)
    return created


def _award_sprint_day(conference: Conference, day, *, winners: int) -> int:
    totals = (
        leaderboard.day_entries(conference.pk, conference.timezone, day)
        .values("user_id")
        .annotate(total=Sum("points"))
        .filter(total__gt=0)
    )
    # Competition ranks: everyone with at least the winners-th highest total ranks within the winners.
    if winners < 1:
        return 0
    highest = list(totals.order_by("-total").values_list("total", flat=True)[:winners])
    if not highest:
        return 0
    threshold = highest[-1]
    ranked = list(totals.filter(total__gte=threshold).order_by("-total", "user_id").values_list("user_id", "total"))
    top: list[leaderboard.Standing] = []
    for index, (user_id, points) in enumerate(ranked):
        rank = top[-1].rank if top and top[-1].points == points else index + 1
        top.append(leaderboard.Standing(user_id, points, rank))
    created = 0
    for row in top:
        if SprintWin.objects.filter(conference=conference, day=day, user_id=row.user_id).exists():
            continue
        try:
            with transaction.atomic():
                SprintWin.objects.create(
                    conference=conference, day=day, user_id=row.user_id, rank=row.rank, points=row.points
                )
                user = User.objects.filter(pk=row.user_id, is_active=True).first()
                if user is not None:
                    notify(
                        user,
                        kind=NotificationKind.SPRINT_WON,
                        title=f"You placed #{row.rank} in {conference.name}'s sprint of {day:%-d %B}",
                        body=f"{row.points} points that day. Well done!",
                        data={
                            "conference": conference.slug,
                            "day": day.isoformat(),
                            "rank": row.rank,
                            "points": row.points,
                        },
                    )
        except IntegrityError:
            continue  # the other beat recorded (and told) this one
        created += 1
    return created
