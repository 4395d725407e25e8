"""
Leaderboards: global and per conference, served from Redis sorted sets and
rebuilt from the points ledger; the database answers when Redis cannot.

What counts: the global board ranks ``User.points`` (the ledger's sum); a
conference's board ranks the sum of the ledger rows whose ``conference`` is
that conference (awards from its quests). Only people with more than zero
points are on a board. Redis and SQL read the same rows, so they agree.

Encoding: a member is the zero-padded user id and its score is *minus* the
points, so ``ZRANGE`` (ascending score, then ascending member) lists the
most points first and breaks ties by user id, exactly like the SQL
``ORDER BY points DESC, id``. Ranks are standard competition ranks
(1, 2, 2, 4): 1 + the number of members with strictly more points, which
is ``ZCOUNT key -inf (score``.

Daily sprints: a conference's board of one day counts the ledger rows of
that conference created between two local midnights in the conference's
timezone. Each day has its own sorted set and ``built`` marker; the first
read of a day builds it from the ledger, later awards update it through
``sync_user``, and a day's keys expire a week after they were built (a
later read rebuilds them).

Keeping Redis right: after each award commits, ``sync_user`` writes the
user's absolute totals (idempotent, so a replay or a missed increment
cannot drift). ``rebuild`` recomputes every key from the ledger into fresh
keys and renames them into place, then sets the ``built`` marker. Reads use
Redis only while the marker exists; without it (a flushed or new Redis)
they answer from SQL and enqueue a rebuild.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import redis
import structlog
from django.conf import settings
from django.db.models import F, Max, QuerySet, Sum, Window
from django.db.models.functions import Rank
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

from conferences.models import Conference
from ibw.tasks import enqueue
from quests import tasks
from quests.models import PointsEntry
from users.models import User

logger = structlog.get_logger(__name__)

_BATCH = 10_000
_clients: dict[str, redis.Redis] = {}


@dataclass(frozen=True)
class Standing:
    user_id: int
    points: int
    rank: int


@dataclass(frozen=True)
class Board:
    rows: list[Standing]
    me: Standing | None
    source: Literal["redis", "sql"]


class _NotBuilt(Exception):
    """Redis has no complete leaderboard yet."""


# --- keys and client --------------------------------------------------------------


def _prefix() -> str:
    return getattr(settings, "LEADERBOARD_KEY_PREFIX", "ibw:lb")


def scope_key(conference_id: int | None) -> str:
    return f"{_prefix()}:conference:{conference_id}" if conference_id else f"{_prefix()}:global"


def _built_key() -> str:
    return f"{_prefix()}:built"


def day_key(conference_id: int, day: date) -> str:
    return f"{_prefix()}:day:{conference_id}:{day.isoformat()}"


def _day_built_key(conference_id: int, day: date) -> str:
    return f"{day_key(conference_id, day)}:built"


DAY_KEY_TTL = int(timedelta(days=7).total_seconds())


def day_bounds(zone_name: str, day: date) -> tuple[datetime, datetime]:
    """The instants of local midnight starting ``day`` and the next one, in ``zone_name``."""
    zone = ZoneInfo(zone_name)
    return datetime.combine(day, time.min, tzinfo=zone), datetime.combine(
        day + timedelta(days=1), time.min, tzinfo=zone
    )


def local_day(zone_name: str, at: datetime) -> date:
    return at.astimezone(ZoneInfo(zone_name)).date()


def ranked_entries() -> QuerySet[PointsEntry]:
    """The ledger rows that count on boards: those of people who have not erased their account."""
    return PointsEntry.objects.filter(user__isnull=False)


def day_entries(conference_id: int, zone_name: str, day: date) -> QuerySet[PointsEntry]:
    """The ledger rows that count for ``conference_id``'s sprint of ``day``."""
    start, end = day_bounds(zone_name, day)
    return ranked_entries().filter(conference_id=conference_id, created_at__gte=start, created_at__lt=end)


def _member(user_id: int) -> str:
    return f"{user_id:012d}"


def client() -> redis.Redis:
    """The leaderboard's Redis (``LEADERBOARD_REDIS_URL``, else ``REDIS_URL``), failing fast."""
    url = getattr(settings, "LEADERBOARD_REDIS_URL", "") or settings.REDIS_URL
    found = _clients.get(url)
    if found is None:
        # No retries with backoff: when Redis is down the SQL fallback must answer at once.
        found = redis.Redis.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=1, retry=Retry(NoBackoff(), 0), decode_responses=True
        )
        _clients[url] = found
    return found


# --- totals from the database ------------------------------------------------------


def _total_in(user_id: int, conference_id: int | None) -> int:
    if conference_id is None:
        return User.objects.filter(pk=user_id).values_list("points", flat=True).first() or 0
    return PointsEntry.objects.filter(user_id=user_id, conference_id=conference_id).aggregate(t=Sum("points"))["t"] or 0


# --- writes ---------------------------------------------------------------------------


def sync_user(user_id: int, *, conference_id: int | None = None, at: datetime | None = None) -> None:
    """
    Write ``user_id``'s current global (and ``conference_id``) totals to
    Redis, and their total of the conference's local day of ``at`` (default
    now) when that day's board is built. Raises ``RedisError``.
    """
    r = client()
    pipe = r.pipeline(transaction=False)
    for scope in {None, conference_id}:
        total = _total_in(user_id, scope)
        _put(pipe, scope_key(scope), user_id, total)
    if conference_id:
        zone_name = Conference.objects.filter(pk=conference_id).values_list("timezone", flat=True).first()
        if zone_name:
            day = local_day(zone_name, at or timezone.now())
            if r.exists(_day_built_key(conference_id, day)):
                day_total = (
                    day_entries(conference_id, zone_name, day).filter(user_id=user_id).aggregate(t=Sum("points"))
                )
                _put(pipe, day_key(conference_id, day), user_id, day_total["t"] or 0)
                # A key first created here (the day was empty when built) must expire too.
                pipe.expire(day_key(conference_id, day), DAY_KEY_TTL)
    pipe.execute()


def _put(pipe, key: str, user_id: int, total: int) -> None:
    if total > 0:
        pipe.zadd(key, {_member(user_id): -total})
    else:
        pipe.zrem(key, _member(user_id))


def build_day(conference_id: int, zone_name: str, day: date) -> int:
    """
    Build the sprint board of ``day`` from the ledger into a fresh key,
    rename it into place and set its marker (both expire after
    ``DAY_KEY_TTL``); re-sync people awarded meanwhile. Return its size.
    """
    r = client()
    entries = day_entries(conference_id, zone_name, day)
    high_water = entries.aggregate(m=Max("id"))["m"] or 0
    members = {
        _member(row["user_id"]): -row["total"]
        for row in entries.filter(id__lte=high_water)
        .values("user_id")
        .annotate(total=Sum("points"))
        .filter(total__gt=0)
        .order_by()
    }
    key = day_key(conference_id, day)
    temporary = f"{key}:tmp:{secrets.token_hex(4)}"
    pipe = r.pipeline(transaction=False)
    items = list(members.items())
    for start in range(0, len(items), _BATCH):
        pipe.zadd(temporary, dict(items[start : start + _BATCH]))
    if items:
        pipe.rename(temporary, key)
        pipe.expire(key, DAY_KEY_TTL)
    else:
        pipe.delete(key)
    pipe.set(_day_built_key(conference_id, day), "1", ex=DAY_KEY_TTL)
    pipe.execute()
    for user_id in entries.filter(id__gt=high_water).values_list("user_id", flat=True).distinct():
        pipe = r.pipeline(transaction=False)
        total = entries.filter(user_id=user_id).aggregate(t=Sum("points"))["t"] or 0
        _put(pipe, key, user_id, total)
        pipe.execute()
    return len(members)


def rebuild() -> dict[str, int]:
    """
    Recompute every board from the ledger; return members per key.

    Builds into temporary keys and renames them over the live ones, so
    readers never see a half-built board. Users awarded while it ran are
    synced again after the rename.
    """
    r = client()
    token = secrets.token_hex(4)
    high_water = PointsEntry.objects.aggregate(m=Max("id"))["m"] or 0
    ledger = ranked_entries().filter(id__lte=high_water)
    scopes: dict[int | None, dict[str, int]] = {None: {}}
    for row in ledger.values("user_id").annotate(total=Sum("points")).filter(total__gt=0).order_by().iterator():
        scopes[None][_member(row["user_id"])] = -row["total"]
    for row in (
        ledger.filter(conference__isnull=False)
        .values("conference_id", "user_id")
        .annotate(total=Sum("points"))
        .filter(total__gt=0)
        .order_by()
        .iterator()
    ):
        scopes.setdefault(row["conference_id"], {})[_member(row["user_id"])] = -row["total"]

    live = {scope_key(scope) for scope in scopes}
    pipe = r.pipeline(transaction=False)
    for scope, members in scopes.items():
        temporary = f"{scope_key(scope)}:tmp:{token}"
        items = list(members.items())
        for start in range(0, len(items), _BATCH):
            pipe.zadd(temporary, dict(items[start : start + _BATCH]))
        if items:
            pipe.rename(temporary, scope_key(scope))
        else:
            pipe.delete(scope_key(scope))
    pipe.execute()
    stale = [key for key in r.scan_iter(match=f"{_prefix()}:conference:*") if key not in live and ":tmp:" not in key]
    if stale:
        r.delete(*stale)
    r.set(_built_key(), "1")
    late = ranked_entries().filter(id__gt=high_water).values_list("user_id", "conference_id").distinct()
    for user_id, conference_id in late:
        sync_user(user_id, conference_id=conference_id)
    return {key: len(members) for key, members in ((scope_key(s), m) for s, m in scopes.items())}


def reconcile() -> dict:
    """
    The beat's check that Redis still holds what the ledger says: for each
    board (global and per conference) compare the member count, the points
    total and a checksum (the sum of user id x points, which catches moves
    that keep the total) in Redis with the ledger's, and rebuild every board when
    any differs, one is missing or extra, or the ``built`` marker is gone
    (Redis flushed, an award's ``sync_user`` failed, a write was lost).

    Idempotent: a board that agrees is left alone; an award landing during
    the check can only cause a spare rebuild. Raises ``RedisError`` when
    Redis is down (the task runs again on the next beat).
    """
    r = client()
    expected: dict[str, tuple[int, int, int]] = {}

    def add(key: str, user_id: int, points: int) -> None:
        count, total, checksum = expected.get(key, (0, 0, 0))
        expected[key] = (count + 1, total + points, checksum + user_id * points)

    for row in ranked_entries().values("user_id").annotate(total=Sum("points")).filter(total__gt=0).order_by():
        add(scope_key(None), row["user_id"], row["total"])
    for row in (
        ranked_entries()
        .filter(conference__isnull=False)
        .values("conference_id", "user_id")
        .annotate(total=Sum("points"))
        .filter(total__gt=0)
        .order_by()
    ):
        add(scope_key(row["conference_id"]), row["user_id"], row["total"])
    keys = {scope_key(None)} | set(expected)
    keys |= {key for key in r.scan_iter(match=f"{_prefix()}:conference:*") if ":tmp:" not in key}
    pipe = r.pipeline(transaction=False)
    pipe.exists(_built_key())
    for key in sorted(keys):
        pipe.zrange(key, 0, -1, withscores=True)
    built, *boards = pipe.execute()
    differing = [] if built else ["not built"]
    for key, members in zip(sorted(keys), boards, strict=True):
        found = (
            len(members),
            -int(sum(score for _, score in members)),
            -int(sum(int(member) * score for member, score in members)),
        )
        if found != expected.get(key, (0, 0, 0)):
            differing.append(key)
    if differing:
        logger.warning("leaderboard_out_of_sync", boards=differing[:20], count=len(differing))
        rebuild()
    return {"checked": len(keys), "differing": len(differing), "rebuilt": bool(differing)}


def remove_user(user_id: int) -> int:
    """
    Take ``user_id`` off every board in Redis: global, per conference and
    each built sprint day (an erased account, whose ledger rows no longer
    name them). Return how many boards held them. Idempotent; raises
    ``RedisError`` (``reconcile`` then finds the difference and rebuilds).
    """
    r = client()
    keys = [scope_key(None)]
    for pattern in (f"{_prefix()}:conference:*", f"{_prefix()}:day:*"):
        keys += [
            key for key in r.scan_iter(match=pattern, count=1000) if ":tmp:" not in key and not key.endswith(":built")
        ]
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.zrem(key, _member(user_id))
    return sum(pipe.execute())


# --- reads ------------------------------------------------------------------------------


def standings(conference_id: int | None, *, limit: int, user_id: int | None = None) -> Board:
    """The top ``limit`` of a board and ``user_id``'s standing; from Redis, else from SQL."""
    try:
        return from_redis(conference_id, limit=limit, user_id=user_id)
    except _NotBuilt:
        _request_rebuild()
    except redis.RedisError as exc:
        logger.warning("leaderboard_redis_unavailable", error=str(exc))
    return from_sql(conference_id, limit=limit, user_id=user_id)


def from_redis(conference_id: int | None, *, limit: int, user_id: int | None = None) -> Board:
    return _from_redis_key(scope_key(conference_id), _built_key(), limit=limit, user_id=user_id)


def _from_redis_key(key: str, built_key: str, *, limit: int, user_id: int | None) -> Board:
    r = client()
    pipe = r.pipeline(transaction=False)
    pipe.exists(built_key)
    if limit > 0:
        pipe.zrange(key, 0, limit - 1, withscores=True)
    if user_id is not None:
        pipe.zscore(key, _member(user_id))
    results = pipe.execute()
    if not results.pop(0):
        raise _NotBuilt()
    top = results.pop(0) if limit > 0 else []
    my_score = results.pop(0) if user_id is not None else None
    rows: list[Standing] = []
    for index, (member, score) in enumerate(top):
        points = int(-score)
        # Ties share the rank of the first of them: 1, 2, 2, 4.
        rank = rows[-1].rank if rows and rows[-1].points == points else index + 1
        rows.append(Standing(int(member), points, rank))
    me = None
    if user_id is not None and my_score is not None:
        me = Standing(user_id, int(-my_score), 1 + r.zcount(key, "-inf", f"({my_score}"))
    return Board(rows, me, "redis")


def from_sql(conference_id: int | None, *, limit: int, user_id: int | None = None) -> Board:
    """The same board from the database: ``RANK()`` for the top, a count above for the caller."""
    if conference_id is None:
        scored = User.objects.filter(points__gt=0)
        top = (
            scored.annotate(rank=Window(Rank(), order_by=F("points").desc()))
            .order_by("-points", "id")
            .values_list("id", "points", "rank")[:limit]
        )
        rows = [Standing(*row) for row in top] if limit > 0 else []
        me = None
        if user_id is not None:
            points = _total_in(user_id, None)
            if points > 0:
                me = Standing(user_id, points, 1 + scored.filter(points__gt=points).count())
        return Board(rows, me, "sql")
    return _from_sql_entries(ranked_entries().filter(conference_id=conference_id), limit=limit, user_id=user_id)


def _from_sql_entries(entries: QuerySet[PointsEntry], *, limit: int, user_id: int | None) -> Board:
    """A board of the sums of ``entries`` per user."""
    totals = entries.values("user_id").annotate(total=Sum("points")).filter(total__gt=0)
    top = (
        totals.annotate(rank=Window(Rank(), order_by=Sum("points").desc()))
        .order_by("-total", "user_id")
        .values_list("user_id", "total", "rank")[:limit]
    )
    rows = [Standing(*row) for row in top] if limit > 0 else []
    me = None
    if user_id is not None:
        points = entries.filter(user_id=user_id).aggregate(t=Sum("points"))["t"] or 0
        if points > 0:
            me = Standing(user_id, points, 1 + totals.filter(total__gt=points).count())
    return Board(rows, me, "sql")


def day_standings(conference: Conference, day: date, *, limit: int, user_id: int | None = None) -> Board:
    """
    The top ``limit`` of ``conference``'s sprint of ``day`` and ``user_id``'s
    standing: from Redis (building the day's board on its first read), else
    from SQL when Redis cannot answer.
    """
    try:
        return day_from_redis(conference, day, limit=limit, user_id=user_id)
    except redis.RedisError as exc:
        logger.warning("leaderboard_redis_unavailable", error=str(exc))
    return day_from_sql(conference, day, limit=limit, user_id=user_id)


def day_from_redis(conference: Conference, day: date, *, limit: int, user_id: int | None = None) -> Board:
    key, built = day_key(conference.pk, day), _day_built_key(conference.pk, day)
    try:
        return _from_redis_key(key, built, limit=limit, user_id=user_id)
    except _NotBuilt:
        build_day(conference.pk, conference.timezone, day)
    return _from_redis_key(key, built, limit=limit, user_id=user_id)


def day_from_sql(conference: Conference, day: date, *, limit: int, user_id: int | None = None) -> Board:
    return _from_sql_entries(day_entries(conference.pk, conference.timezone, day), limit=limit, user_id=user_id)


def standing_of(user_id: int, conference_id: int | None) -> Standing | None:
    return standings(conference_id, limit=0, user_id=user_id).me


def _request_rebuild() -> None:
    """Enqueue one rebuild (at most one a minute) when Redis has lost its boards."""
    try:
        if client().set(f"{_prefix()}:rebuild-requested", "1", nx=True, ex=60):
            # A read has nothing to commit, so no waiting for one: enqueue now. Broker down:
            # enqueue logs it and the first read after the flag expires asks again.
            enqueue(tasks.rebuild_leaderboard_task)
    except Exception as exc:  # the read is answered from SQL whatever happens here
        logger.warning("leaderboard_rebuild_enqueue_failed", error=str(exc))
