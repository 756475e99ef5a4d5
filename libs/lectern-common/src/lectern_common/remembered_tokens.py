"""Tokens already verified, remembered for a short while: the same token string, byte for byte.

A caller sends the same token with every request until it expires (a browser its bearer token,
the gateway an internal token it reuses for a tenth of its life), and checking a signature is
the largest piece of a small request's CPU. What a token verified to is kept, keyed by the whole
token string, so only an identical token is ever answered from here; a token that failed is
never kept. An entry lasts until the earlier of ``remember_seconds`` after it was verified and
the token's own ``exp`` (past ``exp`` the verifier decides again, and says "expired" itself).
``remember_seconds`` bounds how long a token signed with a key withdrawn since stays accepted.
At most ``max_tokens`` are kept, least recently used first out.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class RememberedTokens(Generic[T]):
    """``get(token)`` what an identical token verified to a moment ago; ``keep`` after verifying."""

    def __init__(
        self,
        *,
        remember_seconds: float = 60.0,
        max_tokens: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._remember = remember_seconds
        self._max = max_tokens
        self.clock = clock
        self._known: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def get(self, token: str) -> T | None:
        known = self._known.get(token)
        if known is None:
            return None
        if self.clock() >= known[0]:
            del self._known[token]
            return None
        self._known.move_to_end(token)
        return known[1]

    def keep(self, token: str, value: T, *, verified_at: float, expires_at: float) -> None:
        """Remember ``value`` for ``token``, verified at ``verified_at``, whose ``exp`` is ``expires_at``."""
        until = min(verified_at + self._remember, expires_at)
        if until <= verified_at:
            return
        self._known[token] = (until, value)
        while len(self._known) > self._max:
            self._known.popitem(last=False)

    def __len__(self) -> int:
        return len(self._known)
