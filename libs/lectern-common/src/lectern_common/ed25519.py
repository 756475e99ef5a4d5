"""Ed25519 public keys and signature checks through the OpenSSL every Python process has loaded
already (for ``hashlib``), without the ``cryptography`` package.

A process that only *verifies* Lectern's tokens (upload and realtime face the internet and hold
public keys only) would otherwise load ``cryptography``'s Rust bindings for this alone: ~11 MiB
of RSS in the upload service (bench/upload). Signing stays with ``cryptography``
(:class:`lectern_common.token_keys.SigningKey`), in the processes that sign.

Keys are their raw 32 bytes; the PEM forms are fixed DER prefixes around them (RFC 8410), so no
ASN.1 parser is needed: anything else is refused as not an Ed25519 key. A Python whose
``_hashlib`` does not expose libcrypto's symbols (OpenSSL linked statically) falls back to
``cryptography`` for the two operations that need it.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import functools
import re
from typing import Any

RAW_KEY_BYTES = 32
SIGNATURE_BYTES = 64
# SubjectPublicKeyInfo and PKCS#8 of an Ed25519 key (OID 1.3.101.112) before its 32 raw bytes.
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_NID_ED25519 = 1087  # OpenSSL's EVP_PKEY_ED25519
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)


class NotAnEd25519Key(ValueError):
    """Bytes or PEM text that are not an Ed25519 key (the message says what was expected)."""


@functools.cache
def _libcrypto() -> Any:
    """The libcrypto ``_hashlib`` is linked with (dlsym on its handle searches what it loaded),
    or None when its symbols are not there."""
    try:
        return _bind(ctypes.CDLL(_import_hashlib().__file__))
    except (OSError, AttributeError):
        return None


def _import_hashlib() -> Any:
    import _hashlib  # type: ignore[import-not-found]

    return _hashlib


def _bind(lib: Any) -> Any:
    lib.EVP_PKEY_new_raw_public_key.restype = ctypes.c_void_p
    lib.EVP_PKEY_new_raw_public_key.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.EVP_PKEY_new_raw_private_key.restype = ctypes.c_void_p
    lib.EVP_PKEY_new_raw_private_key.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.EVP_PKEY_get_raw_public_key.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t)]
    lib.EVP_PKEY_free.argtypes = [ctypes.c_void_p]
    lib.EVP_MD_CTX_new.restype = ctypes.c_void_p
    lib.EVP_MD_CTX_free.argtypes = [ctypes.c_void_p]
    lib.EVP_DigestVerifyInit.argtypes = [ctypes.c_void_p] * 5
    lib.EVP_DigestVerify.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    return lib


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is the Ed25519 signature of ``message`` by ``public_key`` (raw)."""
    if len(public_key) != RAW_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    lib = _libcrypto()
    if lib is None:
        return _verify_with_cryptography(public_key, signature, message)
    pkey = lib.EVP_PKEY_new_raw_public_key(_NID_ED25519, None, public_key, RAW_KEY_BYTES)
    if not pkey:
        return False
    context = lib.EVP_MD_CTX_new()
    try:
        if lib.EVP_DigestVerifyInit(context, None, None, None, pkey) != 1:
            return False
        return bool(lib.EVP_DigestVerify(context, signature, SIGNATURE_BYTES, message, len(message)) == 1)
    finally:
        lib.EVP_MD_CTX_free(context)
        lib.EVP_PKEY_free(pkey)


def public_key_of(seed: bytes) -> bytes:
    """The raw public key of the private key whose raw bytes (RFC 8032's seed) are ``seed``."""
    if len(seed) != RAW_KEY_BYTES:
        raise NotAnEd25519Key("an Ed25519 private key is 32 bytes")
    lib = _libcrypto()
    if lib is None:
        return _public_key_with_cryptography(seed)
    pkey = lib.EVP_PKEY_new_raw_private_key(_NID_ED25519, None, seed, RAW_KEY_BYTES)
    if not pkey:
        raise NotAnEd25519Key("OpenSSL refused the Ed25519 private key")
    try:
        out, size = ctypes.create_string_buffer(RAW_KEY_BYTES), ctypes.c_size_t(RAW_KEY_BYTES)
        if lib.EVP_PKEY_get_raw_public_key(pkey, out, ctypes.byref(size)) != 1:
            raise NotAnEd25519Key("OpenSSL could not derive the Ed25519 public key")
        return out.raw[: size.value]
    finally:
        lib.EVP_PKEY_free(pkey)


def _verify_with_cryptography(public_key: bytes, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _public_key_with_cryptography(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _pem(label: str, der: bytes) -> str:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def public_pem(public_key: bytes) -> str:
    """``public_key`` (raw) as a SubjectPublicKeyInfo PEM block."""
    return _pem("PUBLIC KEY", SPKI_PREFIX + public_key)


def private_pem(seed: bytes) -> str:
    """The private key ``seed`` (raw) as an unencrypted PKCS#8 PEM block."""
    return _pem("PRIVATE KEY", PKCS8_PREFIX + seed)


def public_key_from_pem(block: str) -> bytes:
    """The raw key of one SubjectPublicKeyInfo PEM block; NotAnEd25519Key if it is another kind."""
    match = _PEM.search(block)
    if match is None or match.group(1) != "PUBLIC KEY":
        raise NotAnEd25519Key("not a PEM public key")
    try:
        der = base64.b64decode("".join(match.group(2).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NotAnEd25519Key("not a PEM public key") from exc
    if len(der) != len(SPKI_PREFIX) + RAW_KEY_BYTES or not der.startswith(SPKI_PREFIX):
        raise NotAnEd25519Key("not an Ed25519 public key")
    return der[len(SPKI_PREFIX) :]
