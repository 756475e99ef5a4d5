"""Internal tokens verified once while they are reused: the same string is answered from memory,
until its ``exp``; a refused token is never remembered."""

from __future__ import annotations

import time

import pytest
from lectern_common import identity as identity_module
from lectern_common.errors import DomainError
from lectern_common.identity import Identity, InternalTokenIssuer, InternalTokenVerifier
from lectern_common.remembered_tokens import RememberedTokens
from lectern_common.token_keys import SigningKey


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def counting_signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    checked: list[str] = []
    real = identity_module.verify_by_kid

    def counted(token: str, *args: object, **kwargs: object) -> dict[str, object]:
        checked.append(token)
        return real(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(identity_module, "verify_by_kid", counted)
    return checked


def test_the_same_internal_token_is_checked_once_while_it_is_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = counting_signature_checks(monkeypatch)
    key = SigningKey.generate()
    verifier = InternalTokenVerifier(key.verifying_keys())
    alice = InternalTokenIssuer(key).issue(Identity("alice", frozenset({"instructor"})))
    bob = InternalTokenIssuer(key).issue(Identity("bob"))

    answers = [verifier.verify(alice) for _ in range(5)] + [verifier.verify(bob)]

    assert {a.user_id for a in answers[:5]} == {"alice"} and answers[0].roles == {"instructor"}
    assert answers[5].user_id == "bob"
    assert checked == [alice, bob]


def test_a_remembered_token_is_checked_again_once_past_its_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = counting_signature_checks(monkeypatch)
    clock = Clock()
    key = SigningKey.generate()
    verifier = InternalTokenVerifier(key.verifying_keys(), remembered=RememberedTokens(clock=clock))
    token = InternalTokenIssuer(key, ttl_seconds=30).issue(Identity("alice"))

    verifier.verify(token)
    clock.now += 29
    verifier.verify(token)
    assert len(checked) == 1

    clock.now += 2  # past exp: checked again on every call (PyJWT, on the real clock, still accepts it)
    verifier.verify(token)
    verifier.verify(token)
    assert len(checked) == 3


def test_a_refused_token_is_never_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = counting_signature_checks(monkeypatch)
    verifier = InternalTokenVerifier(SigningKey.generate().verifying_keys())
    forged = InternalTokenIssuer(SigningKey.generate()).issue(Identity("mallory"))

    for _ in range(2):
        with pytest.raises(DomainError) as refused:
            verifier.verify(forged)
        assert refused.value.code == "auth.invalid_internal_token"
    assert checked == [forged, forged]


def test_at_most_max_tokens_are_kept_least_recently_used_first_out() -> None:
    clock = Clock()
    remembered: RememberedTokens[str] = RememberedTokens(max_tokens=2, clock=clock)
    for token in ("a", "b"):
        remembered.keep(token, token.upper(), verified_at=clock.now, expires_at=clock.now + 100)
    assert remembered.get("a") == "A"  # "b" is now the least recently used
    remembered.keep("c", "C", verified_at=clock.now, expires_at=clock.now + 100)

    assert (remembered.get("a"), remembered.get("b"), remembered.get("c")) == ("A", None, "C")
    assert len(remembered) == 2
