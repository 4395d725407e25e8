"""
The Redis channel layer, tuned for a venue: thousands of sockets per Daphne
process and a broadcast that pushes to all of them at once.

channels-redis stores every message for one process's sockets in one Redis
sorted set (``specific.<process>!``). Stock, each message a process receives
costs four Redis round trips in series, and each ``group_send`` two or three,
so one Daphne drained about 900 pushes a second and the queue overflowed
silently during a 5,000-person broadcast. This layer:

- receives in batches: one ``ZPOPMIN key N`` takes up to ``receive_batch``
  messages, and only an empty queue falls back to the blocking, backed-up
  read of channels-redis;
- sends to many groups at once (``group_send_many``): one pipelined round
  trip reads every group's members, one script pushes every message, and it
  returns how many pushes were refused (a full queue), so callers can count
  and report them instead of losing them silently;
- waits for a free Redis connection (``BlockingConnectionPool``) instead of
  failing with "Too many connections" when thousands of sockets connect or
  disconnect at once.
"""

from __future__ import annotations

import collections
import time
from typing import Any

from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis

# Push one message per (key, message, capacity) triple unless the key is full;
# drop expired messages first. Returns how many were refused.
_PUSH_MANY = """
local n = #KEYS
local now = tonumber(ARGV[3 * n + 1])
local expiry = tonumber(ARGV[3 * n + 2])
local refused = 0
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, now - expiry)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[n + i]) then
        redis.call('ZADD', KEYS[i], now + tonumber(ARGV[2 * n + i]), ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        refused = refused + 1
    end
end
return refused
"""

# Groups read and messages pushed per Redis round trip.
_CHUNK = 500


class VenueChannelLayer(RedisChannelLayer):
    def __init__(
        self,
        *args: Any,
        receive_batch: int = 200,
        pool_max_connections: int = 64,
        pool_timeout: float = 30,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.receive_batch = receive_batch
        self.pool_max_connections = pool_max_connections
        self.pool_timeout = pool_timeout
        self._prefetched: dict[str, collections.deque[bytes]] = collections.defaultdict(collections.deque)

    def create_pool(self, index: int) -> aioredis.ConnectionPool:
        host = dict(self.hosts[index])
        address = host.pop("address")
        return aioredis.BlockingConnectionPool.from_url(
            address, max_connections=self.pool_max_connections, timeout=self.pool_timeout, **host
        )

    async def receive_single(self, channel: str) -> tuple[Any, dict]:
        """
        Return the next message of ``channel``, taking up to ``receive_batch`` at once.

        channels-redis calls this from one coroutine at a time per process
        (under its receive lock), so the local buffer needs no lock of its own.
        """
        channel_key = self.prefix + channel
        buffered = self._prefetched[channel_key]
        if not buffered:
            index = self.consistent_hash(channel) if "!" in channel else next(self._receive_index_generator)
            popped = await self.connection(index).zpopmin(channel_key, self.receive_batch)
            if not popped:
                # Nothing waiting: block the way channels-redis does (with its backup queue).
                return await super().receive_single(channel)
            buffered.extend(member for member, _score in popped)
        message = self.deserialize(buffered.popleft())
        if "__asgi_channel__" in message:
            channel = message.pop("__asgi_channel__")
        return channel, message

    async def group_send_many(self, items: list[tuple[str, dict]]) -> int:
        """
        Send each ``(group, message)``; return how many pushes a full queue refused.

        Equivalent to ``group_send`` for each item, in a few round trips per
        500 items instead of two or three per item.
        """
        by_index: dict[int, list[tuple[str, dict]]] = collections.defaultdict(list)
        for group, message in items:
            assert self.require_valid_group_name(group), "Group name not valid"
            by_index[self.consistent_hash(group)].append((group, message))
        refused = 0
        for index, batch in by_index.items():
            for start in range(0, len(batch), _CHUNK):
                refused += await self._send_chunk(index, batch[start : start + _CHUNK])
        return refused

    async def _send_chunk(self, index: int, chunk: list[tuple[str, dict]]) -> int:
        pipe = self.connection(index).pipeline(transaction=False)
        cutoff = int(time.time()) - self.group_expiry
        for group, _message in chunk:
            key = self._group_key(group)
            pipe.zremrangebyscore(key, min=0, max=cutoff)
            pipe.zrange(key, 0, -1)
        members = (await pipe.execute())[1::2]

        pushes: dict[int, list[tuple[bytes, bytes, int]]] = collections.defaultdict(list)
        for (_group, message), names in zip(chunk, members, strict=True):
            if not names:
                continue
            channel_names = [name.decode("utf8") for name in names]
            keys_by_connection, messages, capacities = self._map_channel_keys_to_connection(channel_names, message)
            for connection_index, keys in keys_by_connection.items():
                pushes[connection_index].extend((key, messages[key], capacities[key]) for key in keys)

        refused = 0
        now = time.time()
        for connection_index, entries in pushes.items():
            for start in range(0, len(entries), _CHUNK):
                part = entries[start : start + _CHUNK]
                keys = [key for key, _, _ in part]
                args = [payload for _, payload, _ in part] + [capacity for _, _, capacity in part]
                # A microsecond apart, so the receiver pops them in the order they were sent.
                args += [i / 1_000_000 for i in range(len(part))] + [now, self.expiry]
                refused += int(await self.connection(connection_index).eval(_PUSH_MANY, len(keys), *keys, *args))
        return refused
