"""
Keeping a conference's agenda in step with its ``schedule_url`` (a pretalx
or frab ``schedule.json``): fetched every ``SCHEDULE_SYNC_MINUTES`` by beat
and on ``POST …/schedule-sync/``, with ``If-None-Match`` from the last good
fetch's ``ETag``. A fetch that fails (unreachable, an error status, slower
than ``SCHEDULE_SYNC_TIMEOUT``, larger than ``SCHEDULE_SYNC_MAX_BYTES``) or
returns an invalid file changes nothing in the agenda; it raises
``ScheduleFetchFailed`` naming why. Either way the time and outcome are
recorded on the conference for the Django admin.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import structlog
from django.conf import settings
from django.utils import timezone

from conferences.errors import NoScheduleUrl, ScheduleFetchFailed, ScheduleInvalid
from conferences.models import Conference, Session
from conferences.services import import_schedule

logger = structlog.get_logger(__name__)

OUTCOME_MAX = Conference._meta.get_field("schedule_sync_outcome").max_length or 500


def _record(conference: Conference, outcome: str, *, etag: str | None = None) -> None:
    fields: dict[str, Any] = {"schedule_synced_at": timezone.now(), "schedule_sync_outcome": outcome[:OUTCOME_MAX]}
    if etag is not None:
        fields["schedule_etag"] = etag[:500]
    # A plain UPDATE: the sync bookkeeping is not an agenda change (updated_at stays).
    Conference.objects.filter(pk=conference.pk).update(**fields)
    for name, value in fields.items():
        setattr(conference, name, value)


def _fetch(url: str, *, etag: str) -> tuple[bytes | None, str]:
    """The body at ``url`` (``None`` for 304 Not Modified) and its ETag; raises ``ScheduleFetchFailed``."""
    limit = settings.SCHEDULE_SYNC_MAX_BYTES
    timeout = settings.SCHEDULE_SYNC_TIMEOUT
    headers = {"Accept": "application/json"}
    if etag:
        headers["If-None-Match"] = etag
    deadline = time.monotonic() + timeout
    try:
        with httpx.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True) as response:
            if response.status_code == 304:
                return None, etag
            if response.status_code != 200:
                raise ScheduleFetchFailed(f"The schedule_url answered HTTP {response.status_code}.")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise ScheduleFetchFailed(f"The schedule at schedule_url is larger than {limit} bytes.")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise ScheduleFetchFailed(f"The schedule at schedule_url is larger than {limit} bytes.")
                if time.monotonic() > deadline:
                    raise ScheduleFetchFailed(f"The schedule_url did not answer within {timeout:g} seconds.")
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("ETag", "")
    except httpx.TimeoutException:
        raise ScheduleFetchFailed(f"The schedule_url did not answer within {timeout:g} seconds.") from None
    except httpx.HTTPError as exc:
        raise ScheduleFetchFailed(f"The schedule_url could not be reached: {exc.__class__.__name__}.") from None


def sync_schedule(conference: Conference, *, use_etag: bool = True) -> dict[str, int]:
    """
    Fetch ``conference.schedule_url`` and import it (``import_schedule``:
    one transaction, schedule changes told to bookmarkers); return the
    import summary. A 304 answer counts every session unchanged. Raises
    ``NoScheduleUrl`` or ``ScheduleFetchFailed`` (nothing imported). Records
    the time and outcome on the conference in both cases. Idempotent: the
    same file imports as no change.
    """
    if not conference.schedule_url:
        raise NoScheduleUrl()
    try:
        content, etag = _fetch(conference.schedule_url, etag=conference.schedule_etag if use_etag else "")
        if content is None:
            unchanged = Session.objects.filter(conference=conference).count()
            _record(conference, "not modified (304)")
            return {"created": 0, "updated": 0, "unchanged": unchanged, "removed": 0}
        try:
            data = json.loads(content)
        except (UnicodeDecodeError, ValueError):
            raise ScheduleFetchFailed("The schedule_url did not return JSON.") from None
        try:
            counts = import_schedule(conference, data)
        except ScheduleInvalid as exc:
            raise ScheduleFetchFailed(
                f"The schedule_url returned an invalid schedule: {exc.message}", details=exc.details
            ) from None
    except ScheduleFetchFailed as exc:
        _record(conference, f"failed: {exc.message}")
        logger.warning("schedule_sync_failed", conference=conference.slug, reason=exc.message)
        raise
    outcome = ", ".join(f"{value} {name}" for name, value in counts.items())
    _record(conference, f"ok: {outcome}", etag=etag)
    logger.info("schedule_synced", conference=conference.slug, **counts)
    return counts


def conferences_to_sync() -> list[int]:
    return list(Conference.objects.exclude(schedule_url="").order_by("pk").values_list("pk", flat=True))
