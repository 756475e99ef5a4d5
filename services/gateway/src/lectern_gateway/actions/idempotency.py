"""Idempotency-Key answers in Redis: the first answer is kept and replayed for the same request.

A key belongs to one user. ``claim`` marks the key as running (``SET NX`` with a short lock
time, so a crashed gateway frees it); a repeat with the same fingerprint waits briefly for the
first answer and then replays it, a repeat with another body is a CONFLICT. Only final answers
are kept (success and the client's own mistakes); a retryable failure (UNAVAILABLE, INTERNAL,
RATE_LIMITED) releases the key so the client's retry runs again.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import Any

from lectern_common.redis_keys import key_part
from redis.asyncio import Redis

from lectern_gateway import errors

_RELEASE = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, value = pcall(cjson.decode, current)
  if ok and value['owner'] == ARGV[1] then
    return redis.call('DEL', KEYS[1])
  end
end
return 0
"""


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """The right to run a request under a key; give it back with ``complete`` or ``release``."""

    key: str
    fingerprint: str
    owner: str


class IdempotencyCache:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        ttl_seconds: int,
        lock_seconds: int,
        wait_seconds: float = 5.0,
        poll_seconds: float = 0.05,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = ttl_seconds * 1000
        self._lock_ms = lock_seconds * 1000
        self._wait = wait_seconds
        self._poll = poll_seconds
        self._release = redis.register_script(_RELEASE)

    def _key(self, user_id: str, key: str) -> str:
        # Both parts are input (an OIDC subject, the client's key): encoded so that no
        # (user, key) pair can name another's entry.
        return f"{self._prefix}idem:{key_part(user_id)}:{key_part(key)}"

    async def claim(self, user_id: str, key: str, fingerprint: str) -> Claim | StoredAnswer:
        """Claim the key, or answer the stored answer of the same request.

        Raises CONFLICT when the key was used with a different request, or when the first
        request is still running after ``wait_seconds``.
        """
        redis_key = self._key(user_id, key)
        owner = secrets.token_hex(8)
        pending = json.dumps({"state": "pending", "fp": fingerprint, "owner": owner})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        while True:
            if await self._redis.set(redis_key, pending, nx=True, px=self._lock_ms):
                return Claim(redis_key, fingerprint, owner)
            raw = await self._redis.get(redis_key)
            if raw is None:
                continue  # released or expired between our SET and GET: try to claim again
            stored = json.loads(raw)
            if stored.get("fp") != fingerprint:
                raise errors.idempotency_key_reused()
            if stored.get("state") == "done":
                return StoredAnswer(int(stored["status"]), stored["body"])
            if loop.time() >= deadline:
                raise errors.idempotency_in_progress()
            await asyncio.sleep(self._poll)

    async def complete(self, claim: Claim, status: int, body: dict[str, Any]) -> None:
        """Keep the final answer for the key's lifetime."""
        value = json.dumps({"state": "done", "fp": claim.fingerprint, "status": status, "body": body})
        await self._redis.set(claim.key, value, px=self._ttl_ms)

    async def release(self, claim: Claim) -> None:
        """Free the key after a retryable failure (only if we still hold it)."""
        await self._release(keys=[claim.key], args=[claim.owner])
