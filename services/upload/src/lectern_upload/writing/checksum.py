"""tus checksum extension: a PATCH with ``Upload-Checksum`` is kept only if its body's digest
matches (tus: 460 otherwise). The header is read by the tus transport into a ChunkChecksum."""

from __future__ import annotations

import hashlib
import hmac

from lectern_upload.uploads.schemas import ChunkChecksum

CHECKSUM_ALGORITHMS = ("sha1", "sha256")


class ChunkDigest:
    """The digest of one PATCH body, taken beside the parts as the chunks arrive."""

    def __init__(self, checksum: ChunkChecksum) -> None:
        self.expected = checksum
        self._hash = hashlib.new(checksum.algorithm)
        # The hash's own method: one C call per chunk, no Python frame between.
        self.update = self._hash.update

    def matches(self) -> bool:
        return hmac.compare_digest(self._hash.digest(), self.expected.digest)
