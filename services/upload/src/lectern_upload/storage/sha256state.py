"""A SHA-256 whose state can be saved in the database and restored in another process.

Why: the full-file checksum is computed while bytes stream to S3, and an upload may be resumed by
another replica or after a restart. S3 cannot read back the parts of an unfinished multipart
upload, so "recompute from S3 on resume" is not possible before completion, and re-reading a
multi-gigabyte object after completion would double the I/O. hashlib's objects cannot be
serialized, so we call OpenSSL's SHA256_Init/Update/Final through ctypes on a ``SHA256_CTX`` we
own: the context is a plain 112-byte struct (eight state words, bit count, one pending block),
so its bytes *are* the hash state. We save them after every committed part.

The state is in host byte order and OpenSSL's layout; every replica runs the same image, and
``restore`` checks the size. When libcrypto is not loadable (not the case on our images) the
fallback keeps a hashlib object that cannot be saved: ``state()`` answers None and the service
then computes the checksum by reading the completed object back from S3 (see service.finalize).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
from functools import cache

_CTX_SIZE = 112  # sizeof(SHA256_CTX) in OpenSSL 1.1 and 3.x


@cache
def _libcrypto() -> ctypes.CDLL | None:
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto"), "libcrypto.so.1.1"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if all(hasattr(lib, f) for f in ("SHA256_Init", "SHA256_Update", "SHA256_Final")):
            lib.SHA256_Init.argtypes = [ctypes.c_void_p]
            lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
            lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
            return lib
    return None


def resumable_available() -> bool:
    return _libcrypto() is not None


class ResumableSha256:
    """SHA-256 with ``state()``/``restore()``. ``update`` releases the GIL (ctypes does)."""

    def __init__(self, state: bytes | None = None) -> None:
        lib = _libcrypto()
        self._lib = lib
        self._fallback: hashlib._Hash | None = None
        if lib is None:
            if state is not None:
                raise ValueError("a saved SHA-256 state needs libcrypto to resume")
            self._fallback = hashlib.sha256()
            return
        if state is None:
            self._ctx = ctypes.create_string_buffer(_CTX_SIZE)
            lib.SHA256_Init(self._ctx)
        else:
            if len(state) != _CTX_SIZE:
                raise ValueError("not a SHA-256 state")
            self._ctx = ctypes.create_string_buffer(state, _CTX_SIZE)

    @classmethod
    def restore(cls, state: bytes | None) -> ResumableSha256:
        return cls(state)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._fallback is not None:
            self._fallback.update(data)
            return
        assert self._lib is not None
        if isinstance(data, bytes):
            self._lib.SHA256_Update(self._ctx, data, len(data))
            return
        # A writable buffer (the part buffers are bytearrays) is hashed in place, not copied.
        view = memoryview(data).cast("B")
        if view.readonly:
            self._lib.SHA256_Update(self._ctx, view.tobytes(), view.nbytes)
            return
        if view.nbytes:
            self._lib.SHA256_Update(self._ctx, (ctypes.c_char * view.nbytes).from_buffer(view), view.nbytes)

    def state(self) -> bytes | None:
        """The saveable state, or None when only the in-memory fallback is available."""
        if self._fallback is not None:
            return None
        return bytes(self._ctx.raw)

    def hexdigest(self) -> str:
        if self._fallback is not None:
            return self._fallback.copy().hexdigest()
        assert self._lib is not None
        ctx = ctypes.create_string_buffer(self._ctx.raw, _CTX_SIZE)  # Final consumes the context
        out = ctypes.create_string_buffer(32)
        self._lib.SHA256_Final(out, ctx)
        return out.raw.hex()
