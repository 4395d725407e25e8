"""
The global Telegram rate limiter: one token bucket in Redis shared by every
worker process, so N workers together stay under ``TELEGRAM_RATE_LIMIT``
messages a second (python-telegram-bot's own limiter counts per process).

The bucket lives in one hash and is refilled and spent by a Lua script, so
the check-and-take is atomic across processes; time is Redis's ``TIME``, so
the workers' clocks need not agree. A 429 sets a pause-until key that the
same script honours: every worker waits out Telegram's ``retry_after``.
A rate of 0 (or less) turns the limiter off (the benchmark's ceiling run).
"""

from __future__ import annotations

import time
from functools import lru_cache

import redis
from django.conf import settings

BUCKET_KEY = "ibw:telegram:bucket"
PAUSE_KEY = "ibw:telegram:pause_until"
# Bucket capacity in tokens. Messages are spaced 1/rate apart; the extra half
# token forgives a worker that wakes a little late (a few ms of sleep and a
# Redis round trip), which with a capacity of exactly 1 would be lost on every
# message (about 5% of the rate). Any one-second window still holds at most
# rate + 1 messages, the same bound as strict spacing.
BURST = 1.5

# Returns 0 when a token was taken, else the milliseconds to wait.
_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then
  return pause - now
end
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
  ts = now
end
if tokens >= 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', ts)
  redis.call('PEXPIRE', KEYS[1], 60000)
  return 0
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', ts)
redis.call('PEXPIRE', KEYS[1], 60000)
return math.max(1, math.ceil((1 - tokens) * 1000 / rate))
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


def try_acquire(rate: float | None = None) -> float:
    """Take one token if there is one and return 0, else return the seconds to wait."""
    rate = settings.TELEGRAM_RATE_LIMIT if rate is None else rate
    if rate <= 0:
        return 0.0
    client = _redis()
    wait_ms = client.eval(_ACQUIRE, 2, BUCKET_KEY, PAUSE_KEY, rate, BURST)
    return int(wait_ms) / 1000


def acquire(*, max_wait: float = 2.0) -> float:
    """
    Block until a token is taken and return 0, or, when the next token is
    further away than ``max_wait`` (a 429 pause), return that wait without
    taking one so the caller can reschedule instead of holding a worker.
    """
    while True:
        wait = try_acquire()
        if wait == 0:
            return 0.0
        if wait > max_wait:
            return wait
        time.sleep(wait)


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
    _redis().delete(BUCKET_KEY, PAUSE_KEY)
