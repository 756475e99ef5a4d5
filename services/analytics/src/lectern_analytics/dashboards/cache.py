"""The per-domain dashboard cache in Redis, and invalidation that happens after a commit.

Key of one cached domain: ``<prefix>:d<figures version>:<owner>:<domain>:g<generation>:<from>:<to>:<course>``, the
value a ``CachedDomain``: the domain's typed message, serialized, then its figures' JSON. A warm
GetDashboard merges the stored bytes into its response (~0.1 ms) instead of building messages from
JSON again (ParseDict: 18-50 ms a call for the busiest instructor's content and roi).

The generation is a per-(owner, domain) counter (``<prefix>:gen:<owner>:<domain>``):
an event INCRs it, so every cached range and course of that domain for that owner is dropped in
O(1) without scanning keys; the orphaned entries expire with their TTL.

Invalidation runs after the transaction that changed the facts commits, never before: a reader
that raced the transaction read the old generation and wrote under it, which the INCR orphans.

Redis is an optimisation. Every call has a short timeout, and any failure is logged and answered
as a miss (or a skipped write), so a dashboard never fails because the cache is down.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import struct
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from lectern_common.db import UnitOfWork
from lectern_common.redis_keys import key_part
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

log = logging.getLogger(__name__)

_PENDING = "lectern_analytics.invalidate"

# The shape of the cached figures: bumped whenever a domain's figures change shape (2: typed
# domains, money in minor units; 3: serialized message + JSON, not JSON alone), so entries older
# code wrote are never read by newer code (during a deploy, old replicas keep writing d2).
FIGURES_VERSION = 3

_LENGTH = struct.Struct(">I")


@dataclass(frozen=True, eq=False)
class CachedDomain:
    """One domain's answer: ``encoded`` (its typed message, serialized) for the gRPC response, and
    its figures (decoded from ``figures_json`` only when read: a warm RPC never reads them)."""

    encoded: bytes
    figures_json: bytes

    @classmethod
    def of(cls, figures: dict[str, Any], encoded: bytes) -> CachedDomain:
        answer = cls(encoded, json.dumps(figures, separators=(",", ":")).encode())
        answer.__dict__["figures"] = figures
        return answer

    @cached_property
    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = json.loads(self.figures_json)
        return figures

    def dump(self) -> bytes:
        return _LENGTH.pack(len(self.encoded)) + self.encoded + self.figures_json

    @classmethod
    def load(cls, raw: bytes) -> CachedDomain | None:
        """None for a value this code did not write (cut short, or another format)."""
        if len(raw) < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack_from(raw)
        end = _LENGTH.size + length
        if end >= len(raw) or raw[end : end + 1] != b"{":
            return None
        return cls(raw[_LENGTH.size : end], raw[end:])


@dataclass(frozen=True)
class DomainSpan:
    """A domain to read, with its range (None for a snapshot domain, which ignores the range)."""

    domain: str
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Lookup:
    """What the cache holds for one entry (None: nothing usable) and its key (None: cache down)."""

    cached: CachedDomain | None
    key: str | None


class DomainCache:
    def __init__(self, redis: Redis, *, prefix: str, ttl_seconds: int, timeout_seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._timeout = timeout_seconds

    def _generation_key(self, owner_id: str, domain: str) -> str:
        return f"{self._prefix}:gen:{key_part(owner_id)}:{domain}"

    def _entry_key(
        self,
        owner_id: str,
        domain: str,
        generation: int,
        start: datetime | None,
        end: datetime | None,
        course_id: str | None,
    ) -> str:
        span = f"{start.isoformat()}:{end.isoformat()}" if start and end else "-:-"
        # Owner and course ids are input: encoded so no owner's key can spell another's.
        course = key_part(course_id) if course_id else "-"
        return f"{self._prefix}:d{FIGURES_VERSION}:{key_part(owner_id)}:{domain}:g{generation}:{span}:{course}"

    async def get_many(
        self,
        owner_id: str,
        wanted: Sequence[DomainSpan],
        course_id: str | None,
        derived: Mapping[str, Sequence[str]] | None = None,
    ) -> dict[str, Lookup]:
        """Each wanted domain's cached answer (or None) and the key to store a fresh one under (None:
        cache down); likewise each ``derived`` entry, keyed by the domains it is derived from. Two
        round trips whatever the count: the generations, then the entries (a GET each, one after
        the other, was two round trips per domain)."""
        derived = derived or {}
        try:
            async with asyncio.timeout(self._timeout):
                generations = await self._redis.mget([self._generation_key(owner_id, w.domain) for w in wanted])
                keys = {
                    w.domain: self._entry_key(owner_id, w.domain, int(g or 0), w.start, w.end, course_id)
                    for w, g in zip(wanted, generations, strict=True)
                }
                for name, parts in derived.items():
                    keys[name] = self._derived_key(owner_id, name, [keys[part] for part in parts])
                raws = await self._redis.mget(list(keys.values()))
        except Exception as exc:  # any Redis trouble is a miss, never an error
            log.warning("dashboard cache unavailable on read (%s): computing without it", exc)
            return {name: Lookup(None, None) for name in [*(w.domain for w in wanted), *derived]}
        return {
            name: Lookup(CachedDomain.load(raw if isinstance(raw, bytes) else raw.encode()) if raw else None, key)
            for (name, key), raw in zip(keys.items(), raws, strict=True)
        }

    def _derived_key(self, owner_id: str, name: str, keys: Sequence[str]) -> str:
        """The key of an entry derived from other entries (ROI's ``combined`` from sales and
        production): their keys, hashed, so it moves with either one's generation, range or course."""
        digest = hashlib.blake2b("\n".join(keys).encode(), digest_size=16).hexdigest()
        return f"{self._prefix}:d{FIGURES_VERSION}:{key_part(owner_id)}:{name}:{digest}"

    async def put(self, key: str, value: CachedDomain) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.set(key, value.dump(), ex=self._ttl)
        except Exception as exc:
            log.warning("dashboard cache unavailable on write (%s)", exc)

    async def invalidate(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Bump the generation of each (owner, domain): one INCR each, in one round trip."""
        wanted = sorted(set(pairs))
        if not wanted:
            return
        try:
            async with asyncio.timeout(self._timeout):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for owner_id, domain in wanted:
                        pipe.incr(self._generation_key(owner_id, domain))
                    await pipe.execute()
        except Exception as exc:
            # Cached answers then live out their TTL (five minutes): stale, never wrong for longer.
            log.warning("dashboard cache unavailable on invalidate (%s)", exc)


def invalidate_after_commit(session: AsyncSession, owner_id: str, domains: Iterable[str]) -> None:
    """Ask for ``domains`` of ``owner_id`` to be invalidated once ``session`` commits."""
    pending: set[tuple[str, str]] = session.info.setdefault(_PENDING, set())
    pending.update((owner_id, domain) for domain in domains)


class InvalidatingUnitOfWork(UnitOfWork):
    """A unit of work that, after a successful commit, invalidates what the block asked for."""

    def __init__(self, engine: AsyncEngine, cache: DomainCache) -> None:
        super().__init__(engine)
        self._cache = cache

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        async with super().__call__() as session:
            yield session
        pending = session.info.pop(_PENDING, None)
        if pending:
            await self._cache.invalidate(pending)
