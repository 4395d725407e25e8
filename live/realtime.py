"""
A live session's channel (``live.session.<id>``): what goes out on it, how
vote counts are coalesced, and presence.

Question and poll changes (asked, moderated, created, closed) are pushed
after commit as they happen. Vote counts are not: a vote marks its question
or poll "dirty" in Redis and the session's flusher pushes dirty items at
most once per ``LIVE_VOTE_INTERVAL_SECONDS`` (0.5 s, so at most 2 vote
updates a second reach a socket however many people vote).

Coalescing across processes, per session and kind (``votes``, ``presence``),
with three Redis keys:

- ``dirty``  a sorted set of what changed (``q:<id>``, ``p:<id>``), scored by
  when it first changed, so the oldest change goes out first;
- ``pending`` set with ``SET NX`` by whoever marks something dirty: the one
  that sets it enqueues the flush task (``live.flush_session_updates``), so
  one flush chain runs per session whichever web or worker process saw the
  votes;
- ``gate``   claimed with ``SET NX`` by the flush before it reads and
  publishes, and re-set to expire one interval after the send: two sends of
  a session are never closer than the interval, even if two flushes run at
  once in different workers.

The flush publishes one item, then re-enqueues itself while items remain,
else clears ``pending`` and re-checks ``dirty`` (a change that arrived in
between saw ``pending`` still set and relied on this re-check), so no
change is left unpublished. ``pending`` expires after 10 s, so a worker
killed mid-chain delays the next push by at most that long.

Presence: one sorted set per session, member ``<user id>:<channel name>``
(one per socket), score the socket's last heartbeat (epoch seconds). Each
consumer re-scores its member every ``LIVE_PRESENCE_HEARTBEAT_SECONDS`` and
prunes members older than ``LIVE_PRESENCE_TTL_SECONDS``; the count is the
number of distinct users among fresh members, computed in Redis (one Lua
call) by the presence flush and pushed when it changed. A socket whose
process died stops heart-beating and drops out within TTL + heartbeat +
the 1 s presence interval (35 + 15 + 1 s by default, under the contract's 60 s).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis
import redis.asyncio as aioredis
import structlog
from django.conf import settings
from django.db import connections

from ibw.tasks import enqueue
from live import selectors
from notifications.realtime import publish_to_groups

logger = structlog.get_logger(__name__)

VOTES = "votes"
PRESENCE = "presence"
PENDING_MS = 10_000
# How long a flush may take to read and send before another may claim the gate.
GATE_LEASE_MS = 5_000
DIRTY_TTL_SECONDS = 300

# Count distinct users among fresh members, after dropping stale ones.
# KEYS[1] presence set; ARGV[1] oldest live score. Returns [count, removed].
_COUNT_SCRIPT = """
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local seen = {}
local n = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local uid = string.match(member, '^(%d+):')
  if uid and not seen[uid] then
    seen[uid] = true
    n = n + 1
  end
end
return {n, removed}
"""


def session_group(session_id: int) -> str:
    return f"live.session.{session_id}"


def interval_for(kind: str) -> float:
    if kind == PRESENCE:
        return float(settings.LIVE_PRESENCE_INTERVAL_SECONDS)
    return float(settings.LIVE_VOTE_INTERVAL_SECONDS)


def heartbeat_seconds() -> float:
    return float(settings.LIVE_PRESENCE_HEARTBEAT_SECONDS)


def presence_ttl_seconds() -> float:
    return float(settings.LIVE_PRESENCE_TTL_SECONDS)


def _key(session_id: int, kind: str, part: str) -> str:
    return f"ibw:live:{session_id}:{kind}:{part}"


def presence_key(session_id: int) -> str:
    return f"ibw:live:{session_id}:presence:sockets"


def last_count_key(session_id: int) -> str:
    return _key(session_id, PRESENCE, "last")


_client: redis.Redis | None = None


def client() -> redis.Redis:
    """This process's Redis client (connection pool) for live-session keys."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    return _client


_async_clients: dict[int, aioredis.Redis] = {}


def async_client() -> aioredis.Redis:
    """A Redis client for the running event loop (Daphne has one; tests make several)."""
    loop = asyncio.get_running_loop()
    found = _async_clients.get(id(loop))
    if found is None:
        found = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
        _async_clients[id(loop)] = found
    return found


# --- what goes out -------------------------------------------------------------------------


def public_profile(user) -> dict[str, Any]:
    """The fields of ``users``' public profile, for pushes (no request: avatar URLs as stored)."""
    avatar = user.avatar.url if user.avatar else (user.photo_url or None)
    return {
        "id": user.pk,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "display_name": user.get_display_name(),
        "bio": user.bio,
        "company": user.company,
        "job_title": user.job_title,
        "twitter": user.twitter,
        "linkedin": user.linkedin,
        "interests": user.interests,
        "avatar_url": avatar,
        "roles": user.get_roles(),
    }


def question_payload(question) -> dict[str, Any]:
    """A question as the socket shows it: the REST shape without the viewer's ``my_vote``."""
    return {
        "id": question.pk,
        "text": question.text,
        "author": None if question.is_anonymous else public_profile(question.author),
        "anonymous": question.is_anonymous,
        "votes": question.votes,
        "status": question.status,
        "pinned": question.is_pinned,
        "created_at": question.created_at.isoformat(),
    }


def poll_payload(poll) -> dict[str, Any]:
    """A poll as the socket shows it: the REST shape without the viewer's ``my_vote``."""
    return {
        "id": poll.pk,
        "question": poll.question,
        "status": poll.status,
        "options": [{"id": o.pk, "text": o.text, "votes": o.votes} for o in poll.options.all()],
        "created_at": poll.created_at.isoformat(),
    }


# The consumer method that relays coalesced vote counts (it spaces them per socket too).
VOTE_HANDLER = "live.votes"


def publish_question(question, *, vote_update: bool = False) -> None:
    """Push ``question`` (with ``votes`` annotated) to its session's channel after commit."""
    payload = {"type": "question", "question": question_payload(question)}
    publish_to_groups([(session_group(question.session_id), payload)], handler=VOTE_HANDLER if vote_update else "push")


def publish_poll(poll, *, vote_update: bool = False) -> None:
    """Push ``poll`` (options with ``votes``) to its session's channel after commit."""
    payload = {"type": "poll", "poll": poll_payload(poll)}
    publish_to_groups([(session_group(poll.session_id), payload)], handler=VOTE_HANDLER if vote_update else "push")


# --- coalescing ---------------------------------------------------------------------------


def _enqueue_flush(session_id: int, kind: str, countdown: float) -> None:
    from live.tasks import flush_session_updates_task  # live.tasks imports this module: import at call time

    enqueue(flush_session_updates_task, countdown=countdown or None, session_id=session_id, kind=kind)


def mark_dirty(session_id: int, *, kind: str, member: str) -> None:
    """
    Record that ``member`` of ``session_id`` changed; start the session's
    flush chain unless one is pending. One Redis round trip (4 commands);
    call after commit. Redis being down loses only the push (REST still has it).
    """
    dirty, pending, gate = (_key(session_id, kind, p) for p in ("dirty", "pending", "gate"))
    try:
        pipe = client().pipeline(transaction=False)
        pipe.zadd(dirty, {member: time.time()}, nx=True)
        pipe.expire(dirty, DIRTY_TTL_SECONDS)
        pipe.set(pending, 1, nx=True, px=PENDING_MS)
        pipe.pttl(gate)
        _, _, started, gate_ms = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("live_mark_dirty_failed", session=session_id, error=str(exc))
        return
    if started:
        _enqueue_flush(session_id, kind, min(max(gate_ms, 0) / 1000, interval_for(kind)))


async def amark_dirty(session_id: int, *, kind: str, member: str) -> None:
    """``mark_dirty`` for consumers (the flush is enqueued from a thread: Celery's client is sync)."""
    from asgiref.sync import sync_to_async

    dirty, pending, gate = (_key(session_id, kind, p) for p in ("dirty", "pending", "gate"))
    pipe = async_client().pipeline(transaction=False)
    pipe.zadd(dirty, {member: time.time()}, nx=True)
    pipe.expire(dirty, DIRTY_TTL_SECONDS)
    pipe.set(pending, 1, nx=True, px=PENDING_MS)
    pipe.pttl(gate)
    _, _, started, gate_ms = await pipe.execute()
    if started:
        await sync_to_async(_enqueue_flush_from_thread, thread_sensitive=False)(
            session_id, kind, min(max(gate_ms, 0) / 1000, interval_for(kind))
        )


def _enqueue_flush_from_thread(session_id: int, kind: str, countdown: float) -> None:
    try:
        _enqueue_flush(session_id, kind, countdown)
    finally:
        # An eager flush (tests, ``make run`` without a worker) queries from this pool thread.
        connections.close_all()


def _claim_gate(session_id: int, kind: str) -> bool:
    """
    Wait (at most a few intervals) until this process may publish; False if it never could.

    The claim holds the gate for a lease longer than any publish; ``_close_gate``
    then restarts it from the end of the publish, so sends (not claims) are an
    interval apart however long the database read took.
    """
    r = client()
    gate = _key(session_id, kind, "gate")
    interval_ms = int(interval_for(kind) * 1000)
    for _ in range(8):
        if r.set(gate, 1, nx=True, px=interval_ms + GATE_LEASE_MS):
            return True
        wait_ms = r.pttl(gate)
        time.sleep(min(max(wait_ms, 5), interval_ms) / 1000)
    return False


def _close_gate(session_id: int, kind: str) -> None:
    client().set(_key(session_id, kind, "gate"), 1, px=int(interval_for(kind) * 1000))


def presence_count(session_id: int) -> tuple[int, int]:
    """Return (people with the session open, stale sockets just pruned)."""
    oldest = time.time() - presence_ttl_seconds()
    count, removed = client().eval(_COUNT_SCRIPT, 1, presence_key(session_id), oldest)
    return int(count), int(removed)


def flush_session_updates(*, session_id: int, kind: str) -> None:
    """
    Publish the oldest dirty item of ``session_id``'s ``kind`` and keep the
    chain going while items remain. Publishes of one session and kind are at
    least ``interval_for(kind)`` apart across all processes (the gate).
    Idempotent: an empty dirty set publishes nothing.
    """
    r = client()
    dirty, pending = _key(session_id, kind, "dirty"), _key(session_id, kind, "pending")
    interval = interval_for(kind)
    if not _claim_gate(session_id, kind):
        r.pexpire(pending, PENDING_MS)
        _enqueue_flush(session_id, kind, interval)
        return
    popped = r.zpopmin(dirty, 1)
    try:
        if popped:
            member = popped[0][0]
            _publish_item(session_id, kind, member.decode() if isinstance(member, bytes) else str(member))
    finally:
        _close_gate(session_id, kind)
    if r.zcard(dirty):
        r.pexpire(pending, PENDING_MS)
        _enqueue_flush(session_id, kind, interval)
        return
    r.delete(pending)
    # A change marked between ZCARD and DELETE saw ``pending`` and did not enqueue.
    if r.zcard(dirty) and r.set(pending, 1, nx=True, px=PENDING_MS):
        _enqueue_flush(session_id, kind, interval)


def _publish_item(session_id: int, kind: str, member: str) -> None:
    if kind == PRESENCE:
        count, _ = presence_count(session_id)
        previous = client().set(last_count_key(session_id), count, get=True, ex=DIRTY_TTL_SECONDS)
        if previous is None or int(previous) != count:
            publish_to_groups([(session_group(session_id), {"type": "presence", "count": count})])
        return
    prefix, _, raw_id = member.partition(":")
    if prefix == "q":
        question = selectors.question_with_votes(int(raw_id))
        if question is not None:
            publish_question(question, vote_update=True)
    elif prefix == "p":
        poll = selectors.poll_results(int(raw_id))
        if poll is not None:
            publish_poll(poll, vote_update=True)


# --- presence (called by the consumer) -----------------------------------------------------


def _presence_member(user_id: int, channel_name: str) -> str:
    return f"{user_id}:{channel_name}"


async def presence_join(session_id: int, *, user_id: int, channel_name: str) -> int | None:
    """Count this socket in; return the last published count (None before the first) for the newcomer."""
    r = async_client()
    pipe = r.pipeline(transaction=False)
    pipe.zadd(presence_key(session_id), {_presence_member(user_id, channel_name): time.time()})
    pipe.expire(presence_key(session_id), int(presence_ttl_seconds() * 4))
    pipe.get(last_count_key(session_id))
    _, _, last = await pipe.execute()
    await amark_dirty(session_id, kind=PRESENCE, member="count")
    return int(last) if last is not None else None


async def presence_heartbeat(session_id: int, *, user_id: int, channel_name: str) -> None:
    """Re-score this socket and prune sockets that stopped beating; a change schedules a count push."""
    r = async_client()
    now = time.time()
    pipe = r.pipeline(transaction=False)
    pipe.zadd(presence_key(session_id), {_presence_member(user_id, channel_name): now})
    pipe.zremrangebyscore(presence_key(session_id), "-inf", f"({now - presence_ttl_seconds()}")
    pipe.expire(presence_key(session_id), int(presence_ttl_seconds() * 4))
    added, removed, _ = await pipe.execute()
    if added or removed:
        await amark_dirty(session_id, kind=PRESENCE, member="count")


async def presence_leave(session_id: int, *, user_id: int, channel_name: str) -> None:
    """Count this socket out at once (a clean close; a dead one ages out instead)."""
    removed = await async_client().zrem(presence_key(session_id), _presence_member(user_id, channel_name))
    if removed:
        await amark_dirty(session_id, kind=PRESENCE, member="count")
