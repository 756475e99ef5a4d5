"""The one JWT helper: real tokens signed with real keys, refused for the right reason."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from lectern_common.jwt_tokens import (
    ClaimRules,
    TokenRejected,
    eddsa_rules,
    sign,
    unverified_claims,
    unverified_header,
    verify,
    verify_by_kid,
)
from lectern_common.token_keys import ALGORITHM, SigningKey, VerifyingKeys

RULES = eddsa_rules(issuer="lectern-gateway", audience="lectern-internal", leeway_seconds=5)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": "lectern-gateway", "aud": "lectern-internal", "sub": "u1", "iat": now}
    base["exp"] = now + 60
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def bundle(*keys: SigningKey) -> VerifyingKeys:
    return VerifyingKeys({key.kid: key.private_key.public_key() for key in keys})


def rejected(call: Any) -> str:
    with pytest.raises(TokenRejected) as refusal:
        call()
    return refusal.value.reason


def test_a_token_verifies_against_the_key_its_kid_names() -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    token = sign(claims(roles=["author"]), key.private_key, algorithm=ALGORITHM, kid=key.kid)

    assert unverified_header(token)["kid"] == key.kid
    assert verify_by_kid(token, bundle(other, key), RULES)["roles"] == ["author"]


def test_a_token_naming_an_unknown_kid_is_refused_even_if_a_trusted_key_signed_it() -> None:
    key = SigningKey.generate()
    token = sign(claims(), key.private_key, algorithm=ALGORITHM, kid="not-a-known-kid")

    assert rejected(lambda: verify_by_kid(token, bundle(key), RULES)) == "invalid"


def test_a_token_without_a_kid_is_checked_against_each_trusted_key() -> None:
    first, second, stranger = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    token = sign(claims(), second.private_key, algorithm=ALGORITHM)

    assert "kid" not in unverified_header(token)
    assert verify_by_kid(token, bundle(first, second), RULES)["sub"] == "u1"
    assert rejected(lambda: verify_by_kid(token, bundle(first, stranger), RULES)) == "invalid"


def test_expired_is_told_apart_from_invalid_and_the_leeway_applies() -> None:
    key = SigningKey.generate()
    now = int(time.time())
    expired = sign(claims(exp=now - 60), key.private_key, algorithm=ALGORITHM, kid=key.kid)
    within_leeway = sign(claims(exp=now - 2), key.private_key, algorithm=ALGORITHM, kid=key.kid)

    assert rejected(lambda: verify_by_kid(expired, bundle(key), RULES)) == "expired"
    assert verify_by_kid(within_leeway, bundle(key), RULES)["sub"] == "u1"


@pytest.mark.parametrize(
    "overrides",
    [{"aud": "lectern-realtime"}, {"iss": "someone-else"}, {"sub": None}, {"exp": None}, {"nbf": time.time() + 600}],
    ids=["audience", "issuer", "no-sub", "no-exp", "not-yet-valid"],
)
def test_a_claim_that_does_not_meet_the_rules_is_invalid(overrides: dict[str, Any]) -> None:
    key = SigningKey.generate()
    token = sign(claims(**overrides), key.private_key, algorithm=ALGORITHM, kid=key.kid)

    assert rejected(lambda: verify_by_kid(token, bundle(key), RULES)) == "invalid"


def test_an_algorithm_the_verifier_did_not_choose_is_refused() -> None:
    """alg=none, and an ES256 token for an EdDSA verifier, fail before any key is tried."""
    key = SigningKey.generate()
    unsigned = jwt.encode(claims(), None, algorithm="none")
    es256 = sign(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")

    assert rejected(lambda: verify_by_kid(unsigned, bundle(key), RULES)) == "invalid"
    assert rejected(lambda: verify_by_kid(es256, bundle(key), RULES)) == "invalid"


def test_a_shared_secret_verifies_hs256_with_the_claims_the_verifier_requires() -> None:
    rules = ClaimRules(
        algorithms=("HS256",),
        issuer="lectern-upload",
        audience="lectern-upload-tus",
        required=("exp", "sub", "iss", "aud", "typ"),
    )
    secret = "s" * 32
    good = sign(claims(iss="lectern-upload", aud="lectern-upload-tus", typ="upload"), secret, algorithm="HS256")
    untyped = sign(claims(iss="lectern-upload", aud="lectern-upload-tus"), secret, algorithm="HS256")

    assert verify(good, [secret], rules)["typ"] == "upload"
    assert rejected(lambda: verify(good, ["t" * 32], rules)) == "invalid"
    assert rejected(lambda: verify(untyped, [secret], rules)) == "invalid"


def test_one_key_chosen_by_the_caller_as_a_jwk() -> None:
    """The gateway's OIDC path: the key comes from a JWKS, the algorithm from the issuer's list."""
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = jwt.PyJWK.from_dict({**jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True), "alg": "ES256"})
    token = sign(claims(iss="https://idp", aud="lectern"), private, algorithm="ES256", kid="k1")
    rules = ClaimRules(algorithms=("ES256",), issuer="https://idp", audience="lectern", leeway_seconds=30)

    assert unverified_claims(token)["iss"] == "https://idp"
    assert verify(token, [jwk], rules)["sub"] == "u1"


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "e30"])
def test_garbage_is_invalid_at_every_step(garbage: str) -> None:
    key = SigningKey.generate()

    assert rejected(lambda: unverified_header(garbage)) == "invalid"
    assert rejected(lambda: unverified_claims(garbage)) == "invalid"
    assert rejected(lambda: verify_by_kid(garbage, bundle(key), RULES)) == "invalid"


def test_a_well_formed_token_with_an_empty_signature_is_invalid() -> None:
    token = "e30.e30."  # {} . {} . no signature

    assert unverified_header(token) == {}
    assert rejected(lambda: verify_by_kid(token, bundle(SigningKey.generate()), RULES)) == "invalid"
