"""Bearer tokens already verified, remembered for a short while (the same token, byte for byte).

Each action used to verify its bearer JWT afresh: three decodes of the token and an ES256 (or RS256)
signature check, the largest piece of the gateway's own CPU per action after the framework. The
rules of what is remembered and for how long are :mod:`lectern_common.remembered_tokens`'.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from lectern_common.identity import Identity
from lectern_common.jwt_tokens import TokenRejected, unverified_claims
from lectern_common.remembered_tokens import RememberedTokens as Remembered


class Verifier(Protocol):
    async def verify(self, token: str) -> Identity: ...


class RememberedTokens:
    """``verify(token)``: the Identity of a recently verified identical token, else ``verifier``'s."""

    def __init__(
        self,
        verifier: Verifier,
        *,
        remember_seconds: float = 60.0,
        max_tokens: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self._known: Remembered[Identity] = Remembered(
            remember_seconds=remember_seconds, max_tokens=max_tokens, clock=clock
        )

    def remembered(self, token: str) -> Identity | None:
        """The Identity ``token`` verified to, if it is remembered (no verification happens)."""
        return self._known.get(token)

    async def verify(self, token: str) -> Identity:
        identity = self._known.get(token)
        if identity is not None:
            return identity
        now = self._known.clock()
        identity = await self._verifier.verify(token)  # refuses (raises) as it always did
        self._known.keep(token, identity, verified_at=now, expires_at=_expiry(token))
        return identity


def _expiry(token: str) -> float:
    """The verified token's ``exp`` (the verifier required it); 0 when unreadable: not remembered."""
    try:
        exp = unverified_claims(token).get("exp")
    except TokenRejected:
        return 0.0
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else 0.0
