"""Where signing keys come from: an issuer's JWKS URL (cached, refetched on rotation) or a fixed set.

Key rotation: an issuer publishes its new key in the JWKS before signing with it, so a token
whose ``kid`` we do not know means our copy is old, and we refetch at once. A flood of tokens
with made-up kids must not become a flood of fetches, so a refetch for an unknown kid happens
at most once per ``min_refetch_seconds``; concurrent misses share one fetch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import httpx
import jwt

from lectern_gateway import errors

log = logging.getLogger(__name__)


class KeySource(Protocol):
    async def key_for(self, kid: str | None) -> jwt.PyJWK | None:
        """The key with this ``kid`` (the only key when ``kid`` is None and there is one)."""
        ...


def _pick(keys: dict[str, jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    if kid is not None:
        return keys.get(kid)
    if len(keys) == 1:
        return next(iter(keys.values()))
    return None


def _parse_jwks(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for index, raw in enumerate(document.get("keys", [])):
        if raw.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK.from_dict(raw)
        except jwt.PyJWTError as exc:  # an algorithm we do not support: skip that key only
            log.warning("skipping JWKS key %s: %s", raw.get("kid", index), exc)
            continue
        keys[str(raw.get("kid", f"#{index}"))] = key
    return keys


class StaticKeySource:
    """A fixed key set (the dev signer's public key)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._keys = _parse_jwks(document)

    async def key_for(self, kid: str | None) -> jwt.PyJWK | None:
        return _pick(self._keys, kid)


class JwksKeySource:
    """An issuer's JWKS URL, cached for ``cache_seconds``, refetched on an unknown kid."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        cache_seconds: float = 600.0,
        min_refetch_seconds: float = 30.0,
        timeout_seconds: float = 3.0,
        clock: Any = time.monotonic,
    ) -> None:
        self._url = url
        self._http = http
        self._cache_seconds = cache_seconds
        self._min_refetch = min_refetch_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._forced_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key_for(self, kid: str | None) -> jwt.PyJWK | None:
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._cache_seconds
        if stale:
            await self._refresh(force=False)
        key = _pick(self._keys, kid)
        if key is None and kid is not None:
            # Unknown kid: maybe the issuer rotated. Refetch, but not more often than allowed.
            await self._refresh(force=True)
            key = _pick(self._keys, kid)
        return key

    async def _refresh(self, *, force: bool) -> None:
        seen = self._attempted_at
        async with self._lock:
            if self._attempted_at != seen:
                return  # another caller fetched while we waited for the lock
            now = self._clock()
            if force and self._forced_at is not None and now - self._forced_at < self._min_refetch:
                return
            if force:
                self._forced_at = now
            fresh = self._fetched_at is not None and now - self._fetched_at < self._cache_seconds
            if not force and fresh:
                return
            self._attempted_at = now
            self.fetches += 1
            try:
                response = await self._http.get(self._url, timeout=self._timeout)
                response.raise_for_status()
                keys = _parse_jwks(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("could not fetch JWKS from %s: %r", self._url, exc)
                if not self._keys:
                    raise errors.identity_provider_unavailable() from exc
                return  # keep serving with the keys we have
            self._keys = keys
            self._fetched_at = now
