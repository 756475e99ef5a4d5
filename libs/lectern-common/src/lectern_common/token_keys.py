"""Ed25519 keys for the tokens one Lectern service signs and another verifies (EdDSA JWTs).

Internal (service-to-service) and realtime tokens are signed with a private key only their issuer
holds (the gateway; media for its own calls to course) and verified with public keys: a verifier
that faces the internet (upload, realtime) or that is broken into can check tokens but never mint
one. Settings carry keys as PEM text: a private key as PKCS#8, public keys as one or more
concatenated SubjectPublicKeyInfo blocks, so a key can be rotated by publishing the new public key
beside the old one before the issuer switches.

Each token names its key in the ``kid`` header (a fingerprint of the public key), so a verifier
picks the one key to check instead of trying each.

In dev, where no key is configured, a fixed dev key pair derived from a public seed is used, so a
service started by hand with no variable set talks to any other; outside dev it is refused
(:mod:`lectern_common.settings`), since anyone can derive it.

Verifying needs no ``cryptography``: public keys are raw bytes checked through OpenSSL
(:mod:`lectern_common.ed25519`), so a verifier's process does not load it (~11 MiB of RSS).
Only signing keys are ``cryptography`` objects, imported when one is made.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lectern_common import ed25519

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"

_PUBLIC_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


class InvalidKeyError(ValueError):
    """A PEM value that is not the Ed25519 key it should be (the message says which)."""


@dataclass(frozen=True)
class VerifyingKey:
    """An Ed25519 public key: its raw 32 bytes."""

    raw: bytes

    def verify(self, signature: bytes, message: bytes) -> bool:
        return ed25519.verify(self.raw, signature, message)


PublicKey = VerifyingKey | Any  # or a cryptography Ed25519PublicKey (what tests and signers hold)


def raw_public_bytes(public_key: PublicKey) -> bytes:
    """The raw 32 bytes of a public key, whichever kind."""
    if isinstance(public_key, VerifyingKey):
        return public_key.raw
    from cryptography.hazmat.primitives import serialization

    raw: bytes = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw


def key_id(public_key: PublicKey) -> str:
    """The ``kid`` of tokens this key signs: a short fingerprint of its raw public bytes."""
    return hashlib.sha256(raw_public_bytes(public_key)).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """A private key and the ``kid`` its tokens carry."""

    private_key: Ed25519PrivateKey
    kid: str

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        try:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidKeyError("not a PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidKeyError("not an Ed25519 private key")
        return cls(key, key_id(key.public_key()))

    @classmethod
    def generate(cls) -> SigningKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        return cls(key, key_id(key.public_key()))

    def verifying_keys(self) -> VerifyingKeys:
        """The verifier's side of this key alone."""
        return VerifyingKeys({self.kid: VerifyingKey(raw_public_bytes(self.private_key.public_key()))})

    def private_pem(self) -> str:
        return ed25519.private_pem(self._seed())

    def _seed(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        raw: bytes = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return raw

    def private_key_seed(self) -> str:
        """Secret text unique to this key, to derive other dev-only keys from (the dev login's)."""
        return self._seed().hex()

    def public_pem(self) -> str:
        return ed25519.public_pem(raw_public_bytes(self.private_key.public_key()))


@dataclass(frozen=True)
class VerifyingKeys:
    """The public keys a verifier trusts, by ``kid``."""

    by_kid: dict[str, PublicKey]

    @classmethod
    def from_pem(cls, pem_bundle: str) -> VerifyingKeys:
        blocks = _PUBLIC_PEM_BLOCK.findall(pem_bundle)
        if not blocks:
            raise InvalidKeyError("no PEM public key found")
        keys: dict[str, PublicKey] = {}
        for block in blocks:
            try:
                key = VerifyingKey(ed25519.public_key_from_pem(block))
            except ed25519.NotAnEd25519Key as exc:
                raise InvalidKeyError(str(exc)) from exc
            keys[key_id(key)] = key
        return cls(keys)

    def get(self, kid: object) -> PublicKey | None:
        return self.by_kid.get(kid) if isinstance(kid, str) else None

    def candidates(self, kid: object) -> list[PublicKey]:
        """The keys to check a token with: the one its ``kid`` names, or, for a token without a
        ``kid`` (another signer's library), each trusted key in turn (a bundle holds a few)."""
        if kid is None:
            return list(self.by_kid.values())
        key = self.get(kid)
        return [key] if key is not None else []


def private_key_pem(key: Ed25519PrivateKey) -> str:
    return SigningKey(key, "").private_pem()


def public_key_pem(key: Ed25519PublicKey | VerifyingKey) -> str:
    return ed25519.public_pem(raw_public_bytes(key))


def generate_key_pair() -> tuple[str, str]:
    """A fresh (private PEM, public PEM) pair, as the dev launcher makes one per stack."""
    import secrets

    seed = secrets.token_bytes(ed25519.RAW_KEY_BYTES)
    return ed25519.private_pem(seed), ed25519.public_pem(ed25519.public_key_of(seed))


def dev_key_pair(purpose: str) -> tuple[str, str]:
    """The fixed dev pair for ``purpose`` (``internal``, ``realtime``): derived from a public seed,
    so it is only ever acceptable in dev."""
    seed = hashlib.sha256(b"lectern-dev-only-key\x00" + purpose.encode()).digest()
    return ed25519.private_pem(seed), ed25519.public_pem(ed25519.public_key_of(seed))
