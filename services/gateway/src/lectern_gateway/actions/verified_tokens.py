"""Bearer tokens already verified, remembered for a short while (the same token, byte for byte).

Each action used to verify its bearer JWT afresh: three decodes of the token and an ES256 (or RS256)
signature check, the largest piece of the gateway's own CPU per action after the framework. A
client sends the same token with every action until it expires, so the Identity a token verified
to is kept, keyed by the whole token string: only an identical token is ever answered from here.

An entry is used until the earlier of ``remember_seconds`` after it was verified and the token's
own ``exp`` (without the verifier's leeway: past ``exp`` the verifier decides, and says "expired"
itself); a token that failed is never remembered. ``remember_seconds`` bounds how long a token
signed by a key the issuer has since withdrawn from its JWKS stays accepted. At most
``max_tokens`` are kept (least recently used first out).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from lectern_common.identity import Identity
from lectern_common.jwt_tokens import TokenRejected, unverified_claims


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
        self._remember = remember_seconds
        self._max = max_tokens
        self._clock = clock
        self._known: OrderedDict[str, tuple[float, Identity]] = OrderedDict()

    def remembered(self, token: str) -> Identity | None:
        """The Identity ``token`` verified to, if it is remembered (no verification happens)."""
        known = self._known.get(token)
        if known is None:
            return None
        if self._clock() >= known[0]:
            del self._known[token]
            return None
        self._known.move_to_end(token)
        return known[1]

    async def verify(self, token: str) -> Identity:
        identity = self.remembered(token)
        if identity is not None:
            return identity
        now = self._clock()
        identity = await self._verifier.verify(token)  # refuses (raises) as it always did
        until = min(now + self._remember, _expiry(token))
        if until > now:
            self._known[token] = (until, identity)
            while len(self._known) > self._max:
                self._known.popitem(last=False)
        return identity


def _expiry(token: str) -> float:
    """The verified token's ``exp`` (the verifier required it); 0 when unreadable: not remembered."""
    try:
        exp = unverified_claims(token).get("exp")
    except TokenRejected:
        return 0.0
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else 0.0
