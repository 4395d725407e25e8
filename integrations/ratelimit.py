"""
The global Telegram rate limiter: one token bucket in Redis shared by every
worker process, so N workers together stay under ``TELEGRAM_RATE_LIMIT``
messages a second (python-telegram-bot's own limiter counts per process).

The bucket lives in one hash and is refilled and spent by a Lua script, so
the check-and-take is atomic across processes; time is Redis's ``TIME``, so
the workers' clocks need not agree. A 429 sets a pause-until key that the
same script honours: every worker waits out Telegram's ``retry_after``.
A rate of 0 (or less) turns the limiter off (the benchmark's ceiling run).

Single-person sends (reminders, a notification's Telegram copy) come first:
a foreground take that has to wait marks the bucket, and background takes
(broadcast lanes) take nothing until that waiter had its token, so a
single send waits at most about one token's spacing however many lanes
saturate the limiter. Paid broadcasts (``TELEGRAM_PAID_BROADCAST``) draw on
their own bucket at ``TELEGRAM_PAID_BROADCAST_RATE`` (see ``bucket_shape``).
"""

from __future__ import annotations

import time
from functools import lru_cache

import redis
from django.conf import settings

BUCKET_KEY = "ibw:telegram:bucket"
# Paid broadcasts (``allow_paid_broadcast``) are outside the free limit: their own bucket.
PAID_BUCKET_KEY = "ibw:telegram:paid_bucket"
PAUSE_KEY = "ibw:telegram:pause_until"
# Per bucket, "<bucket>:priority_waiting": set while a single-person send waits for a token.
PRIORITY_SUFFIX = ":priority_waiting"
# Bucket capacity in tokens. Messages are spaced 1/rate apart; the extra half
# token forgives a worker that wakes a little late (a few ms of sleep and a
# Redis round trip), which with a capacity of exactly 1 would be lost on every
# message (about 5% of the rate). Any one-second window still holds at most
# rate + 1 messages, the same bound as strict spacing.
BURST = 1.5
# Above WINDOWED_ABOVE messages a second (paid broadcasts) the bucket holds
# 50 ms of tokens, so a lane takes a window of messages per Redis call and
# tokens are not lost while every lane is busy with its window (with 20 ms the
# bench reached 0.83 of 1,000/s, with 50 ms 1.0). It is refilled at
# rate / 1.05, so any one-second window still holds at most ``rate`` messages
# (refill + capacity), and the long-run pace is 0.952 of it.
WINDOWED_ABOVE = 100.0
BURST_SECONDS = 0.05

# Takes up to ARGV[3] tokens. ARGV[4] = 1 for a single-person send (precedence),
# 0 for a broadcast lane, which takes nothing while a single-person send waits.
# Returns {tokens taken, ms to wait when none was taken}.
_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then
  return {0, pause - now}
end
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local high = tonumber(ARGV[4])
local spacing = math.max(1, math.ceil(1000 / rate))
if high == 0 then
  local waiting = redis.call('PTTL', KEYS[3])
  if waiting > 0 then
    return {0, math.min(waiting, spacing)}
  end
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
  ts = now
end
local granted = math.min(want, math.floor(tokens))
if granted >= 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - granted), 'ts', ts)
  redis.call('PEXPIRE', KEYS[1], 60000)
  return {granted, 0}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', ts)
redis.call('PEXPIRE', KEYS[1], 60000)
local wait = math.max(1, math.ceil((1 - tokens) * 1000 / rate))
if high == 1 then
  -- Broadcast lanes hold off until this waiter had its turn (plus slack for a late wake-up).
  local current = redis.call('PTTL', KEYS[3])
  if current < wait + 50 then
    redis.call('SET', KEYS[3], '1', 'PX', wait + 50)
  end
end
return {0, wait}
"""
# Extend (never shorten) the pause to now + ARGV[1] ms.
_PAUSE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 1000)
end
return until_ms
"""


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def _redis() -> redis.Redis:
    return _client(settings.REDIS_URL)


def bucket_shape(rate: float) -> tuple[float, float]:
    """
    ``(refill per second, capacity)`` for a limit of ``rate``: the free
    rates refill at ``rate`` with 1.5 tokens; paid ones hold 50 ms of tokens
    and refill so that refill + capacity = ``rate`` (never more in a second).
    """
    if rate <= WINDOWED_ABOVE:
        return rate, BURST
    refill = rate / (1 + BURST_SECONDS)
    return refill, refill * BURST_SECONDS


def try_acquire_many(
    n: int, *, rate: float | None = None, bucket: str = BUCKET_KEY, background: bool = False
) -> tuple[int, float]:
    """
    Take up to ``n`` tokens of ``bucket`` at ``rate`` (default
    ``TELEGRAM_RATE_LIMIT``); return ``(taken, 0)``, or ``(0, seconds to
    wait)`` when none is free. ``background`` (broadcast lanes) takes
    nothing while a foreground (single-person) send waits on the same bucket.
    """
    rate = settings.TELEGRAM_RATE_LIMIT if rate is None else rate
    if rate <= 0:
        return n, 0.0
    refill, capacity = bucket_shape(rate)
    granted, wait_ms = _redis().eval(
        _ACQUIRE, 3, bucket, PAUSE_KEY, bucket + PRIORITY_SUFFIX, refill, capacity, n, 0 if background else 1
    )
    return int(granted), int(wait_ms) / 1000


def try_acquire(rate: float | None = None) -> float:
    """Take one token if there is one and return 0, else return the seconds to wait."""
    granted, wait = try_acquire_many(1, rate=rate)
    return 0.0 if granted else wait


def acquire_many(
    n: int, *, max_wait: float = 2.0, rate: float | None = None, bucket: str = BUCKET_KEY, background: bool = False
) -> tuple[int, float]:
    """
    Block until at least one of ``n`` tokens is taken and return ``(taken,
    0)``, or, when the next token is further away than ``max_wait`` (a 429
    pause), return ``(0, wait)`` without taking one so the caller can
    reschedule instead of holding a worker. See ``try_acquire_many``.
    """
    while True:
        granted, wait = try_acquire_many(n, rate=rate, bucket=bucket, background=background)
        if granted:
            return granted, 0.0
        if wait > max_wait:
            return 0, wait
        time.sleep(wait)


def acquire(*, max_wait: float = 2.0) -> float:
    """
    Block until a token is taken and return 0, or, when the next token is
    further away than ``max_wait`` (a 429 pause), return that wait without
    taking one so the caller can reschedule instead of holding a worker.
    A foreground take: broadcast lanes give way to it.
    """
    return acquire_many(1, max_wait=max_wait)[1]


def pause(seconds: float) -> None:
    """Stop every worker's sending for ``seconds`` (Telegram's ``retry_after``)."""
    _redis().eval(_PAUSE, 1, PAUSE_KEY, int(seconds * 1000))


def paused_for() -> float:
    """Seconds left of the current pause, 0 when none."""
    value = _redis().get(PAUSE_KEY)
    if not value:
        return 0.0
    now_s, now_us = _redis().time()
    return max(0.0, (int(value) - (now_s * 1000 + now_us // 1000)) / 1000)


def reset() -> None:
    _redis().delete(
        BUCKET_KEY, PAID_BUCKET_KEY, PAUSE_KEY, BUCKET_KEY + PRIORITY_SUFFIX, PAID_BUCKET_KEY + PRIORITY_SUFFIX
    )
