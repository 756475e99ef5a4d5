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

EdDSA signatures are checked here, through OpenSSL (:mod:`lectern_common.ed25519`), and PyJWT then
checks the claims exactly as it does after its own signature check: PyJWT's EdDSA needs
``cryptography``, which a process that only verifies should not have to load (~11 MiB of RSS).
PyJWT itself is imported at the first call, not with this module, since it imports
``cryptography`` whenever that is installed: a process can mark ``cryptography`` unimportable
after its imports and before its first token (upload's ``process_tuning.skip_cryptography``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lectern_common import ed25519
from lectern_common.token_keys import ALGORITHM, VerifyingKey, VerifyingKeys, raw_public_bytes

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
    import jwt

    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(dict(claims), key, algorithm=algorithm, headers=headers)


def unverified_header(token: str) -> dict[str, Any]:
    """The token's header, unverified: only to choose which key to verify with."""
    import jwt

    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRejected("invalid") from exc


def unverified_claims(token: str) -> dict[str, Any]:
    """The token's claims, unverified: only to choose whose keys to verify with (``iss``)."""
    import jwt

    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenRejected("invalid") from exc
    return claims


def verify(token: str, keys: Iterable[Any], rules: ClaimRules) -> dict[str, Any]:
    """The claims of ``token`` if one of ``keys`` signed it and it meets ``rules``."""
    import jwt

    eddsa = ALGORITHM in rules.algorithms and unverified_header(token).get("alg") == ALGORITHM
    for key in keys:
        try:
            raw = _ed25519_raw(key) if eddsa else None
            if raw is not None:
                claims = _decode_ed25519(token, raw, rules)
            else:
                claims = jwt.decode(
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


def _ed25519_raw(key: Any) -> bytes | None:
    """The raw bytes of an Ed25519 public key this module checks itself; None for any other key
    (a JWK of an OIDC issuer), which PyJWT checks as it always did."""
    if isinstance(key, VerifyingKey):
        return key.raw
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None
    return raw_public_bytes(key) if isinstance(key, Ed25519PublicKey) else None


def _decode_ed25519(token: str, public_key: bytes, rules: ClaimRules) -> dict[str, Any]:
    """PyJWT's decode of an EdDSA token, with the signature checked through OpenSSL first."""
    import jwt
    from jwt.utils import base64url_decode

    signing_input, _, encoded_signature = token.rpartition(".")
    try:
        signature = base64url_decode(encoded_signature)
    except ValueError as exc:
        raise jwt.DecodeError("invalid signature padding") from exc
    if not ed25519.verify(public_key, signature, signing_input.encode()):
        raise jwt.InvalidSignatureError("Signature verification failed")
    claims: dict[str, Any] = jwt.decode(
        token,
        audience=rules.audience,
        issuer=rules.issuer,
        leeway=rules.leeway_seconds,
        # What PyJWT checks after a signature it verified itself, given explicitly: without its
        # own signature check it would default each of them to off.
        options={
            "verify_signature": False,
            "verify_exp": True,
            "verify_nbf": True,
            "verify_iat": True,
            "verify_aud": True,
            "verify_iss": True,
            "verify_sub": True,
            "verify_jti": True,
            "require": list(rules.required),
        },
    )
    return claims


def verify_by_kid(token: str, keys: VerifyingKeys, rules: ClaimRules) -> dict[str, Any]:
    """:func:`verify` against the trusted Ed25519 keys the token's ``kid`` names (see above)."""
    return verify(token, keys.candidates(unverified_header(token).get("kid")), rules)


def eddsa_rules(*, issuer: str, audience: str, leeway_seconds: float = 5) -> ClaimRules:
    """The rules of Lectern's own Ed25519-signed tokens (internal, realtime)."""
    return ClaimRules(algorithms=(ALGORITHM,), issuer=issuer, audience=audience, leeway_seconds=leeway_seconds)
