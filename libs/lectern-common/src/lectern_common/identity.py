"""Internal identity tokens: the gateway signs who the user is, services verify it.

The token is a short-lived HS256 JWT (``iss`` lectern-gateway, ``aud`` lectern-internal) carrying
the user id and roles. Services never see the user's OIDC token. Jobs and consumers that act on
their own account use a service identity (``system:<service>`` with the ``service`` role).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field

import jwt

from lectern_common.errors import DomainError, ErrorKind

ISSUER = "lectern-gateway"
AUDIENCE = "lectern-internal"
SERVICE_ROLE = "service"


@dataclass(frozen=True)
class Identity:
    """Who is acting: a user id and roles."""

    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    name: str | None = None

    @property
    def is_service(self) -> bool:
        return SERVICE_ROLE in self.roles

    @classmethod
    def service(cls, service_name: str) -> Identity:
        return cls(user_id=f"system:{service_name}", roles=frozenset({SERVICE_ROLE}))


class InternalTokenIssuer:
    """Signs internal tokens (the gateway for users; any service for its own jobs)."""

    def __init__(self, secret: str, ttl_seconds: int = 300) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    def issue(self, identity: Identity) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": identity.user_id,
            "roles": sorted(identity.roles),
            "iat": now,
            "exp": now + self._ttl,
        }
        if identity.name:
            claims["name"] = identity.name
        return jwt.encode(claims, self._secret, algorithm="HS256")


class InternalTokenVerifier:
    """Verifies internal tokens; any failure is UNAUTHENTICATED without saying more."""

    def __init__(self, secret: str, leeway_seconds: int = 5) -> None:
        self._secret = secret
        self._leeway = leeway_seconds

    def verify(self, token: str) -> Identity:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self._leeway,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise DomainError(
                "auth.invalid_internal_token", "missing or invalid internal token", ErrorKind.UNAUTHENTICATED
            ) from exc
        return Identity(user_id=str(claims["sub"]), roles=frozenset(claims.get("roles", ())), name=claims.get("name"))


# The identity of the request being served, set by the gRPC interceptor. Servicers read it and
# hand it to services as an explicit argument; services never read this variable themselves.
current_identity: ContextVar[Identity | None] = ContextVar("lectern_current_identity", default=None)


def require_identity() -> Identity:
    """The caller of the RPC being served; servicers hand it to services as an argument.

    The gRPC interceptor always sets it, so a missing identity means a mis-wired server: refuse the
    call as UNAUTHENTICATED rather than act for nobody.
    """
    identity = current_identity.get()
    if identity is None:
        raise DomainError("auth.missing_identity", "no caller identity", ErrorKind.UNAUTHENTICATED)
    return identity
