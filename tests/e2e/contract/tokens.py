"""Tokens a test forges: signed with a fresh random key (never the stack's), or expired but
signed with the stack's real key, for every plane that verifies a JWT.

Works whichever way the stack signs: HS256 with a shared secret, or EdDSA (Ed25519) with a private
key. Forgeries are made both ways, so a verifier of either kind sees a well-formed token whose
signature it cannot accept. The real signer is read from the launcher's state file
(``StackState.secrets``): ``<purpose>_private_key`` (PEM, EdDSA) when the launcher hands services
keys, else ``<purpose>_secret`` (HS256).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

INTERNAL = {"iss": "lectern-gateway", "aud": "lectern-internal"}
REALTIME = {"iss": "lectern-gateway", "aud": "lectern-realtime"}


def _claims(audience: dict[str, str], subject: str, ttl: int, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {**audience, "sub": subject, "iat": now - max(0, -ttl) - 60, "exp": now + ttl, **extra}


def forged(audience: dict[str, str], subject: str, **extra: Any) -> dict[str, str]:
    """A valid-looking, unexpired token per algorithm, each signed with a key nobody trusts."""
    claims = _claims(audience, subject, 300, **extra)
    random_key = Ed25519PrivateKey.generate()
    return {
        "HS256": jwt.encode(claims, secrets.token_urlsafe(32), algorithm="HS256"),
        "EdDSA": jwt.encode(claims, random_key, algorithm="EdDSA"),
        "none": jwt.encode(claims, None, algorithm="none"),
    }


def signed_by_stack(
    stack_secrets: dict[str, str], purpose: str, audience: dict[str, str], subject: str, *, ttl: int, **extra: Any
) -> str:
    """A token signed with the stack's real ``purpose`` key (``internal_token``, ``realtime_token``),
    valid for ``ttl`` seconds; a negative ``ttl`` makes one that expired that long ago (past any
    leeway, with -600)."""
    claims = _claims(audience, subject, ttl, **extra)
    private_pem = stack_secrets.get(f"{purpose}_private_key")
    if private_pem:
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        return jwt.encode(claims, key, algorithm="EdDSA")  # type: ignore[arg-type]
    secret = stack_secrets.get(f"{purpose}_secret")
    assert secret, f"the launcher's state names no {purpose} signer (keys: {sorted(stack_secrets)})"
    return jwt.encode(claims, secret, algorithm="HS256")
