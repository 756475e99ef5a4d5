"""Verifying a user's bearer token: a JWT from a trusted issuer, signed by one of its keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lectern_common.errors import DomainError
from lectern_common.identity import MAX_USER_ID_LENGTH, Identity, is_usable_user_id
from lectern_common.jwt_tokens import ClaimRules, TokenRejected, unverified_claims, unverified_header, verify

from lectern_gateway import errors
from lectern_gateway.auth.keys import KeySource

_ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    audience: str
    keys: KeySource
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    roles_claim: str = "roles"


class UserTokenVerifier:
    """Turns ``Authorization: Bearer <jwt>`` into an Identity, or refuses with UNAUTHENTICATED.

    The issuer is read from the unverified token only to choose whose keys to verify with; the
    signature, ``iss``, ``aud``, ``exp`` (and ``nbf``) are then all checked. Only asymmetric
    algorithms are accepted, so no one can sign with a public key as an HMAC secret.
    """

    def __init__(self, issuers: Sequence[TrustedIssuer], *, leeway_seconds: int = 30) -> None:
        self._issuers = {issuer.issuer: issuer for issuer in issuers}
        self._leeway = leeway_seconds

    async def verify(self, token: str) -> Identity:
        try:
            header = unverified_header(token)
            unverified = unverified_claims(token)
        except TokenRejected as exc:
            raise errors.unauthenticated("the bearer token is not a JWT") from exc
        trusted = self._issuers.get(str(unverified.get("iss", "")))
        if trusted is None:
            raise errors.unauthenticated("the token's issuer is not trusted")
        algorithm = header.get("alg")
        if algorithm not in trusted.algorithms or algorithm not in _ASYMMETRIC:
            raise errors.unauthenticated("the token's algorithm is not accepted")
        kid = header.get("kid")
        key = await trusted.keys.key_for(str(kid) if kid is not None else None)
        if key is None:
            raise errors.unauthenticated("the token was signed with an unknown key")
        rules = ClaimRules(
            algorithms=(algorithm,), issuer=trusted.issuer, audience=trusted.audience, leeway_seconds=self._leeway
        )
        try:
            claims = verify(token, [key], rules)
        except TokenRejected as exc:
            if exc.reason == "expired":
                raise errors.unauthenticated("the token has expired") from exc
            raise errors.unauthenticated("the token is not valid") from exc
        subject = str(claims["sub"])
        if not subject or subject.startswith("system:"):
            # "system:" ids belong to services acting on their own account.
            raise errors.unauthenticated("the token's subject is not a user")
        if not is_usable_user_id(subject):
            raise errors.unauthenticated(
                f"the token's subject must be 1 to {MAX_USER_ID_LENGTH} characters without control characters"
            )
        roles = claims.get(trusted.roles_claim) or []
        if not isinstance(roles, list):
            roles = []
        user_roles = frozenset(str(role) for role in roles if str(role) != "service")
        name = claims.get("name")
        return Identity(user_id=subject, roles=user_roles, name=str(name) if name else None)


def is_auth_error(error: DomainError) -> bool:
    return error.code.startswith("auth.")
