"""Internal tokens reused for a short while, instead of one EdDSA signature per action.

An internal token says who acts (user id, roles, name) and expires ``ttl`` seconds after it is
signed; it carries nothing about the call, so two actions of the same identity a few seconds
apart may carry the same token (two in the same second always did: ``iat`` is in whole seconds).
A token is reused for at most ``reuse_seconds`` (a tenth of its life, at most 30 s), so every
token a service receives has at least nine tenths of its life left, as a fresh one would. At
most ``max_identities`` are remembered (the least recently used go first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from lectern_common.identity import Identity


class ReusedTokens:
    """``issue(identity)``: the identity's recent token, or a fresh one from ``sign``."""

    def __init__(
        self,
        sign: Callable[[Identity], str],
        *,
        ttl_seconds: float,
        max_identities: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sign = sign
        self._reuse = min(30.0, ttl_seconds / 10)
        self._max = max_identities
        self._clock = clock
        self._tokens: OrderedDict[Identity, tuple[float, str]] = OrderedDict()

    def issue(self, identity: Identity) -> str:
        now = self._clock()
        known = self._tokens.get(identity)
        if known is not None and now - known[0] < self._reuse:
            self._tokens.move_to_end(identity)
            return known[1]
        token = self._sign(identity)
        self._tokens[identity] = (now, token)
        self._tokens.move_to_end(identity)
        while len(self._tokens) > self._max:
            self._tokens.popitem(last=False)
        return token
