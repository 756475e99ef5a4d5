"""Ed25519 through OpenSSL without cryptography: the same keys, PEMs and verdicts as cryptography's,
and a verifier process that never loads cryptography."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lectern_common import ed25519
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.token_keys import InvalidKeyError, SigningKey, VerifyingKeys


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_a_signature_verifies_only_for_its_key_and_message() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signature = key.sign(b"the message")

    assert ed25519.verify(raw_public(key), signature, b"the message")
    assert not ed25519.verify(raw_public(key), signature, b"another message")
    assert not ed25519.verify(raw_public(other), signature, b"the message")
    assert not ed25519.verify(raw_public(key), signature[:-1], b"the message")
    assert not ed25519.verify(b"short", signature, b"the message")


def test_without_libcrypto_symbols_cryptography_gives_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    signature = key.sign(b"m")
    monkeypatch.setattr(ed25519, "_libcrypto", lambda: None)

    assert ed25519.verify(raw_public(key), signature, b"m")
    assert not ed25519.verify(raw_public(key), signature, b"other")
    assert ed25519.public_key_of(seed) == raw_public(key)


def test_keys_and_pems_are_the_ones_cryptography_makes() -> None:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())

    assert ed25519.public_key_of(seed) == raw_public(key)
    assert (
        ed25519.public_pem(raw_public(key))
        == key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert (
        ed25519.private_pem(seed)
        == key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    )
    assert ed25519.public_key_from_pem(ed25519.public_pem(raw_public(key))) == raw_public(key)


def test_a_public_pem_of_another_kind_or_garbage_is_refused() -> None:
    p256 = generate_private_key(SECP256R1()).public_key()
    pem = p256.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    with pytest.raises(InvalidKeyError, match="not an Ed25519 public key"):
        VerifyingKeys.from_pem(pem)
    with pytest.raises(InvalidKeyError, match="not a PEM public key"):
        VerifyingKeys.from_pem("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n")


def test_a_verifier_process_checks_tokens_without_loading_cryptography() -> None:
    key = SigningKey.generate()
    good = InternalTokenIssuer(key).issue(Identity(user_id="u1"))
    forged = InternalTokenIssuer(SigningKey(Ed25519PrivateKey.generate(), key.kid)).issue(Identity(user_id="u1"))
    script = textwrap.dedent(
        """
        import sys
        sys.modules["cryptography"] = None  # as upload's serve process does
        from lectern_common.errors import DomainError
        from lectern_common.identity import InternalTokenVerifier
        from lectern_common.token_keys import VerifyingKeys
        verifier = InternalTokenVerifier(VerifyingKeys.from_pem(sys.argv[1]))
        print(verifier.verify(sys.argv[2]).user_id)
        try:
            verifier.verify(sys.argv[3])
        except DomainError as exc:
            print("refused", exc.kind.name)
        """
    )

    done = subprocess.run(
        [sys.executable, "-c", script, key.public_pem(), good, forged], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["u1", "refused UNAUTHENTICATED"]
