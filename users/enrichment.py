"""
The social enrichment workflow: who may be enriched, when, and what is
stored on the user. The users app owns it; the HTTP clients it calls
(Apify for X/Twitter, the LinkedIn provider, OpenAI) are in
``integrations.enrichment`` and know nothing of users.

Requests come from the user (``POST /users/me/enrich/``), a profile change
(``users.services.update_profile``) and the admin's re-enrich action; the
worker runs ``run_enrichment`` through ``users.tasks``.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from ibw.tasks import enqueue_on_commit
from integrations import enrichment as clients
from integrations.errors import EnrichmentFailed
from users.errors import EnrichmentCooldown
from users.models import AIUsage, EnrichmentRun, EnrichmentRunStatus, EnrichmentStatus, EnrichmentTrigger, User

logger = structlog.get_logger(__name__)

# A run still pending or running after this long is taken for dead (its worker was lost).
STALE_RUN = timedelta(minutes=30)


def _unconfigured_reason(user: User) -> tuple[str, bool] | None:
    """Why ``user`` cannot be enriched with the integrations configured, and whether old results are stale."""
    provider = clients.ai_provider()
    if missing := provider.missing():
        return f"{provider.label} is not configured ({', '.join(missing)}).", False
    if not user.twitter and not user.linkedin:
        return "No X/Twitter or LinkedIn profile to read.", True
    readable = (user.twitter and clients.twitter_enabled()) or (user.linkedin and clients.linkedin_enabled())
    if not readable:
        return "No configured integration reads this profile (APIFY_TOKEN, LINKEDIN_API_KEY).", False
    return None


def request_enrichment(
    user: User, *, force: bool = False, trigger: str = EnrichmentTrigger.REQUEST, defer: bool = False
) -> EnrichmentRun:
    """
    Queue a social enrichment of ``user`` and set their status to ``pending``.

    When an integration it needs is not configured, or the user has no
    social profile, nothing is queued and the status becomes ``skipped``.
    A run already waiting is returned instead of queuing another (a
    profile change queues a new one, which supersedes it). Within
    ``ENRICHMENT_COOLDOWN_SECONDS`` of the last started run this raises
    ``EnrichmentCooldown`` (429), unless ``force`` (admins) or ``defer``
    (a profile change: the run is scheduled for the end of the cooldown).
    The task is enqueued on commit. Concurrent requests for one user are
    serialized by a lock on the user row.
    """
    now = timezone.now()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
        unconfigured = _unconfigured_reason(user)
        if unconfigured is not None:
            reason, stale = unconfigured
            logger.info("enrichment_skipped", user_id=user.pk, reason=reason)
            fields: dict[str, Any] = {"enrichment_status": EnrichmentStatus.SKIPPED, "enrichment_error": reason}
            if stale:
                fields.update(enrichment_summary="", enrichment_tags=[], enrichment_openers=[])
            _write_user(user, **fields)
            return EnrichmentRun.objects.create(
                user=user, trigger=trigger, status=EnrichmentRunStatus.SKIPPED, error=reason, finished_at=now
            )
        runs = EnrichmentRun.objects.filter(user=user)
        waiting = runs.filter(status=EnrichmentRunStatus.PENDING, created_at__gt=now - STALE_RUN).first()
        if waiting is not None and trigger == EnrichmentTrigger.REQUEST and not force:
            return waiting
        countdown = 0
        last_started_at = (
            runs.filter(started_at__isnull=False).order_by("-started_at").values_list("started_at", flat=True).first()
        )
        if last_started_at is not None and not force:
            remaining = last_started_at + timedelta(seconds=settings.ENRICHMENT_COOLDOWN_SECONDS) - now
            if remaining.total_seconds() > 0:
                remaining_seconds = math.ceil(remaining.total_seconds())
                if not defer:
                    raise EnrichmentCooldown(retry_after=remaining_seconds)
                countdown = remaining_seconds
        run = EnrichmentRun.objects.create(user=user, trigger=trigger)
        _write_user(user, enrichment_status=EnrichmentStatus.PENDING, enrichment_error="")

        # Inside the function: users.tasks imports this module to run the work.
        from users.tasks import enrich_user_task

        # Broker down: the run stays pending and resume_enrichments starts it later.
        enqueue_on_commit(enrich_user_task, countdown=countdown or None, run_id=run.pk)
    return run


def _write_user(user: User, **fields: Any) -> None:
    # An UPDATE of these columns only: a profile edit saved meanwhile is not overwritten.
    User.objects.filter(pk=user.pk).update(**fields)
    for name, value in fields.items():
        setattr(user, name, value)


def consume_ai_call() -> bool:
    """
    Count one AI call against today's ``ENRICHMENT_DAILY_AI_BUDGET`` (UTC day);
    False when the budget is used up. The conditional UPDATE keeps racing
    workers from going over it.
    """
    today = timezone.now().date()
    AIUsage.objects.get_or_create(day=today)
    return bool(
        AIUsage.objects.filter(day=today, calls__lt=settings.ENRICHMENT_DAILY_AI_BUDGET).update(calls=F("calls") + 1)
    )


def _run_lease() -> timedelta:
    return timedelta(seconds=settings.ENRICHMENT_RUN_LEASE_SECONDS)


def stalled_enrichment_run_ids() -> list[int]:
    """
    Return the runs to start again: each user's latest run when it is running
    past its lease (its worker died), or still pending a minute after the
    latest time it could have been scheduled for (creation + the cooldown a
    deferred run waits out): it was never queued, the broker was down. Runs
    older than a day are left alone.
    """
    now = timezone.now()
    orphaned_before = now - timedelta(seconds=settings.ENRICHMENT_COOLDOWN_SECONDS, minutes=1)
    latest = EnrichmentRun.objects.filter(user_id=OuterRef("user_id")).order_by("-created_at", "-pk").values("pk")[:1]
    return list(
        EnrichmentRun.objects.filter(created_at__gt=now - timedelta(days=1), pk=Subquery(latest))
        .filter(
            Q(status=EnrichmentRunStatus.PENDING, created_at__lt=orphaned_before)
            | Q(status=EnrichmentRunStatus.RUNNING, started_at__lt=now - _run_lease())
        )
        .values_list("pk", flat=True)
    )


def run_enrichment(run_id: int) -> EnrichmentRun | None:
    """
    Execute a pending run: read the user's X/Twitter and LinkedIn profiles,
    ask the AI, validate and store the result in one UPDATE of the user.

    Idempotent: the run is claimed with a conditional UPDATE (pending →
    running), so a redelivered task does nothing, unless the run has been
    running past ``ENRICHMENT_RUN_LEASE_SECONDS`` (its worker died): then it
    is claimed and run again. A run that is no longer
    the user's latest is superseded instead. A run where every source
    fails, the budget is used up or the AI's answer is invalid ends
    ``failed`` with the reason, and the user's previous results stay.
    """
    run = EnrichmentRun.objects.filter(pk=run_id).select_related("user").first()
    if run is None:
        return None
    latest_id = EnrichmentRun.objects.filter(user_id=run.user_id).values_list("pk", flat=True).first()
    if latest_id != run.pk:
        EnrichmentRun.objects.filter(pk=run.pk, status=EnrichmentRunStatus.PENDING).update(
            status=EnrichmentRunStatus.SUPERSEDED, finished_at=timezone.now()
        )
        return run
    now = timezone.now()
    # A run "running" past its lease was cut off by a crash (a SIGKILLed
    # worker): claim it again. Within the lease, a redelivery does nothing.
    claimed = (
        EnrichmentRun.objects.filter(pk=run.pk)
        .filter(
            Q(status=EnrichmentRunStatus.PENDING)
            | Q(status=EnrichmentRunStatus.RUNNING, started_at__lt=now - _run_lease())
        )
        .update(status=EnrichmentRunStatus.RUNNING, started_at=now)
    )
    if not claimed:
        return run
    user = User.objects.get(pk=run.user_id)
    try:
        result = _enrich(user, run)
    except EnrichmentFailed as exc:
        logger.warning("enrichment_failed", user_id=user.pk, run_id=run.pk, reason=exc.reason)
        _finish(run, user, EnrichmentRunStatus.FAILED, error=exc.reason)
    else:
        logger.info("enrichment_done", user_id=user.pk, run_id=run.pk, tags=len(result["tags"]))
        _finish(run, user, EnrichmentRunStatus.DONE, result=result)
    run.refresh_from_db()
    return run


def _enrich(user: User, run: EnrichmentRun) -> dict[str, Any]:
    unconfigured = _unconfigured_reason(user)
    if unconfigured is not None:
        raise EnrichmentFailed(unconfigured[0])
    sources: dict[str, Any] = {}
    problems: list[str] = []
    if user.twitter and clients.twitter_enabled():
        try:
            sources["x_twitter"] = clients.fetch_twitter(user.twitter)
        except EnrichmentFailed as exc:
            problems.append(exc.reason)
    if user.linkedin and clients.linkedin_enabled():
        try:
            sources["linkedin"] = clients.fetch_linkedin(user.linkedin)
        except EnrichmentFailed as exc:
            problems.append(exc.reason)
    if not sources:
        raise EnrichmentFailed(" ".join(problems) or "No profile data was found.")
    if problems:
        logger.warning("enrichment_source_failed", user_id=user.pk, problems=problems)
    if user.bio:
        sources["bio"] = user.bio[:1000]
    if not consume_ai_call():
        raise EnrichmentFailed("Today's AI budget (ENRICHMENT_DAILY_AI_BUDGET) is used up; try again tomorrow.")
    EnrichmentRun.objects.filter(pk=run.pk).update(ai_called=True)
    return clients.summarize(sources)


def _finish(run: EnrichmentRun, user: User, status: str, *, error: str = "", result: dict | None = None) -> None:
    now = timezone.now()
    with transaction.atomic():
        EnrichmentRun.objects.filter(pk=run.pk).update(status=status, error=error, finished_at=now)
        # A newer run owns the user's status now; this one only records its own outcome.
        if EnrichmentRun.objects.filter(user_id=user.pk).values_list("pk", flat=True).first() != run.pk:
            return
        if result is not None:
            _write_user(
                user,
                enrichment_status=EnrichmentStatus.DONE,
                enrichment_summary=result["summary"],
                enrichment_tags=result["tags"],
                enrichment_openers=result["openers"],
                enrichment_error="",
                enriched_at=now,
            )
        else:
            _write_user(user, enrichment_status=EnrichmentStatus.FAILED, enrichment_error=error)
