"""Internal identity tokens: the gateway signs who the user is, services verify it.

The token is a short-lived EdDSA (Ed25519) JWT (``iss`` lectern-gateway, ``aud`` lectern-internal)
carrying the user id and roles, signed with ``INTERNAL_TOKEN_PRIVATE_KEY`` (only the gateway and
media, which calls course, hold it) and verified with ``INTERNAL_TOKEN_PUBLIC_KEYS`` (every gRPC
service): a service that can verify tokens cannot mint them. Services never see the user's OIDC
token. Jobs and consumers that act on their own account use a service identity
(``system:<service>`` with the ``service`` role).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from lectern_common.errors import DomainError, ErrorKind
from lectern_common.jwt_tokens import TokenRejected, eddsa_rules, sign, verify_by_kid
from lectern_common.remembered_tokens import RememberedTokens
from lectern_common.token_keys import ALGORITHM, SigningKey, VerifyingKeys

ISSUER = "lectern-gateway"
AUDIENCE = "lectern-internal"
SERVICE_ROLE = "service"

MAX_USER_ID_LENGTH = 200
"""The longest user id any plane stores (every ``owner_id``/``user_id`` column is 200 long)."""


def is_usable_user_id(value: object) -> bool:
    """Whether ``value`` can be a user id on every plane: what OIDC providers issue as ``sub``
    (``auth0|123``, e-mail addresses, URNs with ``:``) is, up to :data:`MAX_USER_ID_LENGTH`
    characters; control characters (which would break log lines and the realtime fan-out
    frames) are not."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_USER_ID_LENGTH:
        return False
    return not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value)


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
    """Signs internal tokens (the gateway for users; media for its own calls to course)."""

    def __init__(self, key: SigningKey, ttl_seconds: int = 300) -> None:
        self._key = key
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
        return sign(claims, self._key.private_key, algorithm=ALGORITHM, kid=self._key.kid)


def _invalid() -> DomainError:
    return DomainError("auth.invalid_internal_token", "missing or invalid internal token", ErrorKind.UNAUTHENTICATED)


class InternalTokenVerifier:
    """Verifies internal tokens; any failure is UNAUTHENTICATED without saying more."""

    def __init__(
        self, keys: VerifyingKeys, leeway_seconds: int = 5, *, remembered: RememberedTokens[Identity] | None = None
    ) -> None:
        self._keys = keys
        self._rules = eddsa_rules(issuer=ISSUER, audience=AUDIENCE, leeway_seconds=leeway_seconds)
        # The gateway reuses a user's token for a tenth of its life: the same string arrives on
        # every call meanwhile, and its Ed25519 check was most of a small RPC's auth cost.
        self._remembered = remembered if remembered is not None else RememberedTokens[Identity]()

    def verify(self, token: str) -> Identity:
        identity = self._remembered.get(token)
        if identity is not None:
            return identity
        verified_at = self._remembered.clock()
        try:
            claims = verify_by_kid(token, self._keys, self._rules)
        except TokenRejected as exc:
            raise _invalid() from exc
        identity = Identity(
            user_id=str(claims["sub"]), roles=frozenset(claims.get("roles", ())), name=claims.get("name")
        )
        self._remembered.keep(token, identity, verified_at=verified_at, expires_at=float(claims["exp"]))
        return identity


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
