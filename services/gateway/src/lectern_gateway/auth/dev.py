"""The dev login: tokens for any user id, signed with a dev key and verified like any OIDC token.

The key is an EC P-256 key derived from the stack's internal token signing key, so every gateway
replica of one dev stack (and a restarted gateway) signs and verifies with the same key, while
two stacks never accept each other's tokens. Only built in dev (``GatewaySettings.dev_login``).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from lectern_common.jwt_tokens import sign

DEV_ISSUER = "lectern-dev"
_P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


class DevTokenSigner:
    def __init__(self, seed: str, *, audience: str, ttl_seconds: int) -> None:
        digest = hashlib.sha256(b"lectern-dev-auth\x00" + seed.encode()).digest()
        secret = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
        self._key = ec.derive_private_key(secret, ec.SECP256R1())
        public_jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self._key.public_key()))
        self.kid = "dev-" + hashlib.sha256(json.dumps(public_jwk, sort_keys=True).encode()).hexdigest()[:16]
        public_jwk.update({"kid": self.kid, "use": "sig", "alg": "ES256"})
        self._jwks = {"keys": [public_jwk]}
        self.audience = audience
        self._ttl = ttl_seconds

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def issue(self, user_id: str, *, name: str | None = None, roles: list[str] | None = None) -> tuple[str, datetime]:
        now = int(time.time())
        expires = now + self._ttl
        claims: dict[str, Any] = {
            "iss": DEV_ISSUER,
            "aud": self.audience,
            "sub": user_id,
            "iat": now,
            "exp": expires,
            "roles": roles or [],
        }
        if name:
            claims["name"] = name
        token = sign(claims, self._key, algorithm="ES256", kid=self.kid)
        return token, datetime.fromtimestamp(expires, UTC)
