"""Rate limits: GCRA token buckets, in Redis (shared by replicas) or in the process.

GCRA keeps one number per bucket (the theoretical arrival time), so a check is one round trip
and the bucket's memory is constant. In Redis, time comes from the server (``TIME``), so every
replica agrees on it whatever their clocks say. The subject (a user id, a client address) is input:
it is encoded into the key (:func:`lectern_common.redis_keys.key_part`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lectern_common.redis_keys import key_part

if TYPE_CHECKING:  # a type only: LocalRateLimiter's users (upload) never load redis (~17 MiB RSS)
    from redis.asyncio import Redis

# Every bucket of one check in one round trip: KEYS[i] with ARGV[2i-1] (interval) and ARGV[2i]
# (burst), taken in order; the first empty one refuses (and says which, 1-based).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - interval * burst
  if allow_at > now then
    return {0, allow_at - now, i}
  end
  redis.call('SET', key, new_tat, 'PX', math.ceil(new_tat - now) + 1000)
end
return {1, 0, 0}
"""


@dataclass(frozen=True)
class Bucket:
    """``per_minute`` sustained, ``burst`` at once."""

    name: str
    per_minute: int
    burst: int

    @property
    def interval_ms(self) -> int:
        # Whole milliseconds keep every number in the script an integer (Lua prints numbers
        # with 14 significant digits, which a fraction on a millisecond timestamp would exceed).
        return max(1, round(60_000 / self.per_minute))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_seconds: float
    bucket: str


class RateLimiter:
    """Buckets in Redis, shared by every replica."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._prefix = prefix
        self._script = redis.register_script(_GCRA)

    async def check(self, subject: str, buckets: list[Bucket]) -> Decision:
        """Take one token from each bucket in order (one round trip); the first empty one refuses."""
        return await self.check_each([(subject, bucket) for bucket in buckets])

    async def check_each(self, checks: list[tuple[str, Bucket]]) -> Decision:
        """:meth:`check` for buckets of several subjects (a client's and its user's) at once."""
        keys = [f"{self._prefix}rl:{bucket.name}:{key_part(subject)}" for subject, bucket in checks]
        args = [number for _, bucket in checks for number in (bucket.interval_ms, bucket.burst)]
        allowed, wait_ms, refused = await self._script(keys=keys, args=args)
        if not int(allowed):
            return Decision(False, round(max(float(wait_ms), 1.0) / 1000.0, 3), checks[int(refused) - 1][1].name)
        return Decision(True, 0.0, "")


class LocalRateLimiter:
    """The same buckets in this process only (a service without Redis): each replica enforces
    its own share. At most ``max_subjects`` subjects are remembered (least recently seen first
    out), so memory stays bounded whoever calls."""

    def __init__(self, bucket: Bucket, *, max_subjects: int = 100_000) -> None:
        self._bucket = bucket
        self._max = max_subjects
        self._tat: OrderedDict[str, float] = OrderedDict()

    def check(self, subject: str) -> Decision:
        now = time.monotonic() * 1000
        interval = self._bucket.interval_ms
        tat = max(self._tat.get(subject, now), now)
        allow_at = tat + interval - interval * self._bucket.burst
        if allow_at > now:
            return Decision(False, round(max(allow_at - now, 1.0) / 1000.0, 3), self._bucket.name)
        self._tat[subject] = tat + interval
        self._tat.move_to_end(subject)
        while len(self._tat) > self._max:
            self._tat.popitem(last=False)
        return Decision(True, 0.0, "")
