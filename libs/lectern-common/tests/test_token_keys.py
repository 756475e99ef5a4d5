"""Per-purpose Ed25519 keys: verifiers hold public keys only, and no token crosses purposes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.identity import AUDIENCE, ISSUER, Identity, InternalTokenIssuer, InternalTokenVerifier
from lectern_common.realtime_tokens import RealtimeTokenError, RealtimeTokenIssuer, RealtimeTokenVerifier
from lectern_common.token_keys import InvalidKeyError, SigningKey, VerifyingKeys, generate_key_pair


def hs256_by_hand(claims: dict[str, Any], header: dict[str, Any], secret: bytes) -> str:
    """PyJWT itself refuses to HMAC with a PEM; an attacker's script would not."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_a_token_verifies_with_the_public_key_pem_alone() -> None:
    private_pem, public_pem = generate_key_pair()
    token = InternalTokenIssuer(SigningKey.from_pem(private_pem)).issue(Identity("u1"))

    assert InternalTokenVerifier(VerifyingKeys.from_pem(public_pem)).verify(token).user_id == "u1"


def test_hs256_signed_with_the_public_key_text_is_refused() -> None:
    """The algorithm-confusion forgery: whoever has a verifier's public key signs HMAC with it."""
    private_pem, public_pem = generate_key_pair()
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "admin", "iat": now, "exp": now + 60}
    kid = SigningKey.from_pem(private_pem).kid
    forged = hs256_by_hand(claims, {"alg": "HS256", "typ": "JWT", "kid": kid}, public_pem.encode())

    with pytest.raises(DomainError) as refused:
        InternalTokenVerifier(VerifyingKeys.from_pem(public_pem)).verify(forged)
    assert refused.value.kind is ErrorKind.UNAUTHENTICATED


def test_a_token_from_another_key_is_refused_even_with_the_trusted_kid() -> None:
    trusted, attacker = SigningKey.generate(), SigningKey.generate()
    forged = InternalTokenIssuer(SigningKey(attacker.private_key, trusted.kid)).issue(Identity("u1"))

    with pytest.raises(DomainError):
        InternalTokenVerifier(trusted.verifying_keys()).verify(forged)


def test_every_public_key_of_a_bundle_verifies_so_keys_rotate() -> None:
    old, new = generate_key_pair(), generate_key_pair()
    verifier = InternalTokenVerifier(VerifyingKeys.from_pem(old[1] + new[1]))

    for private_pem, _ in (old, new):
        token = InternalTokenIssuer(SigningKey.from_pem(private_pem)).issue(Identity("u1"))
        assert verifier.verify(token).user_id == "u1"


def test_realtime_and_internal_tokens_do_not_cross_purposes() -> None:
    internal, realtime = SigningKey.generate(), SigningKey.generate()
    internal_token = InternalTokenIssuer(internal).issue(Identity("u1"))
    realtime_token = RealtimeTokenIssuer(realtime).issue("u1").token

    with pytest.raises(RealtimeTokenError):
        RealtimeTokenVerifier(realtime.verifying_keys()).verify(internal_token)
    with pytest.raises(DomainError):
        InternalTokenVerifier(internal.verifying_keys()).verify(realtime_token)


def test_a_key_that_is_not_ed25519_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1())
    pem = p256.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()

    with pytest.raises(InvalidKeyError, match="Ed25519"):
        SigningKey.from_pem(pem)
    with pytest.raises(InvalidKeyError):
        VerifyingKeys.from_pem("not a key")
