"""A verified bearer token is remembered briefly: identical tokens only, never past exp, never a refusal."""

from __future__ import annotations

import jwt
import pytest
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.identity import Identity
from lectern_gateway.actions.verified_tokens import RememberedTokens


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingVerifier:
    """Accepts tokens whose ``sub`` is not "refused"; counts every verification."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def verify(self, token: str) -> Identity:
        self.calls.append(token)
        claims = jwt.decode(token, options={"verify_signature": False})
        if claims["sub"] == "refused":
            raise DomainError("auth.invalid", "the token is not valid", ErrorKind.UNAUTHENTICATED)
        return Identity(claims["sub"])


def token(sub: str, exp: float) -> str:
    return jwt.encode({"sub": sub, "exp": int(exp)}, "k" * 32, algorithm="HS256")


async def test_the_same_token_is_verified_once_until_it_is_forgotten() -> None:
    clock, verifier = Clock(), CountingVerifier()
    tokens = RememberedTokens(verifier, remember_seconds=60, clock=clock)
    alice = token("alice", clock.now + 3600)

    assert await tokens.verify(alice) == Identity("alice")
    clock.now += 59
    assert await tokens.verify(alice) == Identity("alice")
    assert verifier.calls == [alice]
    clock.now += 1  # remembered for 60 s, then verified afresh
    assert await tokens.verify(alice) == Identity("alice")
    assert len(verifier.calls) == 2
    assert await tokens.verify(token("bob", clock.now + 3600)) == Identity("bob")  # another token: verified
    assert len(verifier.calls) == 3


async def test_a_token_is_never_answered_from_memory_past_its_exp() -> None:
    clock, verifier = Clock(), CountingVerifier()
    tokens = RememberedTokens(verifier, remember_seconds=60, clock=clock)
    short = token("alice", clock.now + 10)
    await tokens.verify(short)
    clock.now += 10  # at exp: the verifier decides (with its leeway) and says so itself
    await tokens.verify(short)
    assert verifier.calls == [short, short]


async def test_a_refused_token_is_refused_every_time_and_memory_is_bounded() -> None:
    clock, verifier = Clock(), CountingVerifier()
    tokens = RememberedTokens(verifier, max_tokens=2, clock=clock)
    refused = token("refused", clock.now + 3600)
    for _ in range(2):
        with pytest.raises(DomainError):
            await tokens.verify(refused)
    assert verifier.calls == [refused, refused]

    a, b, c = (token(sub, clock.now + 3600) for sub in "abc")
    for each in (a, b, c, a):  # c pushes a out (least recently used), so a is verified again
        await tokens.verify(each)
    assert verifier.calls[2:] == [a, b, c, a]
