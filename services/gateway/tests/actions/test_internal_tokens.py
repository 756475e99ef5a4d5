"""Internal tokens reused for a tenth of their life, per identity."""

from __future__ import annotations

from lectern_common.identity import Identity
from lectern_gateway.actions.internal_tokens import ReusedTokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_reused_for_a_tenth_of_its_life_then_signed_afresh() -> None:
    signed: list[Identity] = []

    def sign(identity: Identity) -> str:
        signed.append(identity)
        return f"token-{len(signed)}"

    clock = Clock()
    tokens = ReusedTokens(sign, ttl_seconds=300, clock=clock)
    alice, bob = Identity("alice"), Identity("bob", frozenset({"admin"}))

    assert tokens.issue(alice) == tokens.issue(Identity("alice")) == "token-1"
    assert tokens.issue(bob) == "token-2"  # another identity, its own token
    assert tokens.issue(Identity("alice", name="Alice")) == "token-3"  # the name is in the token
    clock.now += 29.9
    assert tokens.issue(alice) == "token-1"
    clock.now += 0.2  # 30 s: a tenth of 300 s
    assert tokens.issue(alice) == "token-4"
    assert len(signed) == 4


def test_short_lived_tokens_are_reused_for_less_and_memory_is_bounded() -> None:
    clock = Clock()
    signed: list[str] = []

    def sign(identity: Identity) -> str:
        signed.append(identity.user_id)
        return f"t{len(signed)}"

    tokens = ReusedTokens(sign, ttl_seconds=20, max_identities=2, clock=clock)
    assert tokens.issue(Identity("a")) == "t1"
    clock.now += 2.1  # past a tenth of 20 s
    assert tokens.issue(Identity("a")) == "t2"
    tokens.issue(Identity("b"))
    tokens.issue(Identity("c"))  # "a" is the least recently used: forgotten
    assert tokens.issue(Identity("a")) == tokens.issue(Identity("a")) == "t5"
    assert signed == ["a", "a", "b", "c", "a"]
