"""Per-user rate limits in Redis: GCRA token buckets, one Lua call per check.

GCRA keeps one number per bucket (the theoretical arrival time), so a check is one round trip
and the bucket's memory is constant. Time comes from the Redis server (``TIME``), so every
gateway replica agrees on it whatever their clocks say.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0}
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
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._prefix = prefix
        self._script = redis.register_script(_GCRA)

    async def check(self, user_id: str, buckets: list[Bucket]) -> Decision:
        """Take one token from each bucket in order; the first empty one refuses."""
        for bucket in buckets:
            allowed, wait_ms = await self._script(
                keys=[f"{self._prefix}rl:{bucket.name}:{user_id}"], args=[bucket.interval_ms, bucket.burst]
            )
            if not int(allowed):
                return Decision(False, round(max(float(wait_ms), 1.0) / 1000.0, 3), bucket.name)
        return Decision(True, 0.0, "")
