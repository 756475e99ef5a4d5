"""Realtime connection tokens: the gateway signs what a browser may watch, realtime verifies it.

``getRealtimeToken`` answers a short-lived EdDSA (Ed25519) JWT signed with the gateway's
``REALTIME_TOKEN_PRIVATE_KEY``; realtime, which faces the internet, holds only the public keys
(``REALTIME_TOKEN_PUBLIC_KEYS``), so it can check a token but never mint one.
``sub`` is the user id, ``courses`` the course ids whose ``course:<id>`` channels the connection
may subscribe to, ``exp`` its end. The audience is ``lectern-realtime`` so an internal service token
(audience ``lectern-internal``, same issuer) can never open a socket, and a realtime token can never
call a service. The verifier says *why* a token is refused (``missing``, ``expired``, ``invalid``) so
the WebSocket close reason can tell a client whether fetching a fresh token will help.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lectern_common.identity import is_usable_user_id
from lectern_common.jwt_tokens import TokenRejected, eddsa_rules, sign, verify_by_kid
from lectern_common.token_keys import ALGORITHM, SigningKey, VerifyingKeys

ISSUER = "lectern-gateway"
AUDIENCE = "lectern-realtime"
MAX_COURSES = 1000
"""Course ids one token may name; the token travels in a URL, so it must stay small."""

RefusalReason = Literal["missing", "expired", "invalid"]


@dataclass(frozen=True)
class RealtimeClaims:
    """What a verified token allows: the user's own channel and the named courses' channels."""

    user_id: str
    course_ids: frozenset[str]
    expires_at: datetime


@dataclass(frozen=True)
class IssuedRealtimeToken:
    token: str
    expires_at: datetime


class RealtimeTokenError(Exception):
    """A token that cannot open a connection; ``reason`` is one of missing, expired, invalid."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason
        self.message = message


class RealtimeTokenIssuer:
    """Signs realtime tokens (used by the gateway's ``getRealtimeToken``)."""

    def __init__(self, key: SigningKey, ttl_seconds: int = 3600) -> None:
        self._key = key
        self._ttl = ttl_seconds

    def issue(self, user_id: str, course_ids: Iterable[str] = ()) -> IssuedRealtimeToken:
        """A token for ``user_id`` that may watch ``course_ids`` (the caller checked ownership)."""
        courses = sorted(set(course_ids))
        if not user_id:
            raise ValueError("user_id is required")
        if len(courses) > MAX_COURSES:
            raise ValueError(f"a realtime token names at most {MAX_COURSES} courses")
        now = int(time.time())
        exp = now + self._ttl
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": user_id, "courses": courses, "iat": now, "exp": exp}
        return IssuedRealtimeToken(
            token=sign(claims, self._key.private_key, algorithm=ALGORITHM, kid=self._key.kid),
            expires_at=datetime.fromtimestamp(exp, tz=UTC),
        )


class RealtimeTokenVerifier:
    """Verifies realtime tokens; raises :class:`RealtimeTokenError` saying why one is refused."""

    def __init__(self, keys: VerifyingKeys, leeway_seconds: int = 5) -> None:
        self._keys = keys
        self._rules = eddsa_rules(issuer=ISSUER, audience=AUDIENCE, leeway_seconds=leeway_seconds)

    def verify(self, token: str | None) -> RealtimeClaims:
        if not token:
            raise RealtimeTokenError("missing", "missing token")
        try:
            claims = verify_by_kid(token, self._keys, self._rules)
        except TokenRejected as exc:
            message = "token expired" if exc.reason == "expired" else "invalid token"
            raise RealtimeTokenError(exc.reason, message) from exc
        return self._claims(claims)

    def _claims(self, claims: dict[str, Any]) -> RealtimeClaims:
        courses = claims.get("courses", [])
        if not isinstance(courses, list) or not all(isinstance(c, str) and c for c in courses):
            raise RealtimeTokenError("invalid", "invalid token")
        subject = claims["sub"]
        if not is_usable_user_id(subject):
            raise RealtimeTokenError("invalid", "invalid token")
        return RealtimeClaims(
            user_id=subject,
            course_ids=frozenset(courses),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
        )
