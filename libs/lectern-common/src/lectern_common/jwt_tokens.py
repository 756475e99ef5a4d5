"""Signing and verifying JWTs: the one place Lectern calls PyJWT.

Every token Lectern checks is checked the same way: the signature with an algorithm the verifier
chose (never the one the token names alone), then ``iss``, ``aud``, ``exp``/``nbf`` with a
leeway, and the claims the verifier requires. Callers map a refusal to their own error::

    rules = eddsa_rules(issuer=ISSUER, audience=AUDIENCE, leeway_seconds=5)
    claims = verify_by_kid(token, verifying_keys, rules)     # Ed25519 keys picked by ``kid``
    claims = verify(token, [secret], rules_hs256)             # a shared secret (upload's tus tokens)
    claims = verify(token, [jwk], rules)                      # one key chosen by the caller (OIDC)
    token = sign(claims, key, algorithm="EdDSA", kid=key_id)

:func:`verify` tries each key in turn: a token whose signature does not match a key is tried
against the next, any other failure (expired, wrong audience, malformed) refuses it at once, and
a token no key signed is refused. :func:`verify_by_kid` checks a token against the one trusted
Ed25519 key its ``kid`` header names; a token without a ``kid`` (another signer's library) against
each trusted key; a token naming an unknown ``kid`` is refused.

A refusal is :class:`TokenRejected` whose ``reason`` is ``"expired"`` (a fresh token will do) or
``"invalid"`` (anything else); the underlying PyJWT error is its ``__cause__``, for logs only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from lectern_common.token_keys import ALGORITHM, VerifyingKeys

RejectReason = Literal["expired", "invalid"]
REQUIRED_CLAIMS = ("exp", "sub", "iss", "aud")


class TokenRejected(Exception):
    """A token that does not verify; ``reason`` says whether a fresh one could help."""

    def __init__(self, reason: RejectReason) -> None:
        super().__init__(f"token {reason}")
        self.reason: RejectReason = reason


@dataclass(frozen=True)
class ClaimRules:
    """What a verifier accepts: its algorithms, the issuer and audience, and the claims required."""

    algorithms: tuple[str, ...]
    issuer: str
    audience: str
    leeway_seconds: float = 5
    required: tuple[str, ...] = REQUIRED_CLAIMS


def sign(claims: Mapping[str, Any], key: Any, *, algorithm: str, kid: str | None = None) -> str:
    """``claims`` signed with ``key`` (a private key object, or the secret for HS256)."""
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(dict(claims), key, algorithm=algorithm, headers=headers)


def unverified_header(token: str) -> dict[str, Any]:
    """The token's header, unverified: only to choose which key to verify with."""
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRejected("invalid") from exc


def unverified_claims(token: str) -> dict[str, Any]:
    """The token's claims, unverified: only to choose whose keys to verify with (``iss``)."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenRejected("invalid") from exc
    return claims


def verify(token: str, keys: Iterable[Any], rules: ClaimRules) -> dict[str, Any]:
    """The claims of ``token`` if one of ``keys`` signed it and it meets ``rules``."""
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(rules.algorithms),
                audience=rules.audience,
                issuer=rules.issuer,
                leeway=rules.leeway_seconds,
                options={"require": list(rules.required)},
            )
        except jwt.InvalidSignatureError:
            continue  # another trusted key may have signed it
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected("invalid") from exc
        return claims
    raise TokenRejected("invalid")


def verify_by_kid(token: str, keys: VerifyingKeys, rules: ClaimRules) -> dict[str, Any]:
    """:func:`verify` against the trusted Ed25519 keys the token's ``kid`` names (see above)."""
    return verify(token, keys.candidates(unverified_header(token).get("kid")), rules)


def eddsa_rules(*, issuer: str, audience: str, leeway_seconds: float = 5) -> ClaimRules:
    """The rules of Lectern's own Ed25519-signed tokens (internal, realtime)."""
    return ClaimRules(algorithms=(ALGORITHM,), issuer=issuer, audience=audience, leeway_seconds=leeway_seconds)
