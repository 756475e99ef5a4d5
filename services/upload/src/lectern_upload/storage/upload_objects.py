"""Where an upload's bytes live in the object store: one multipart upload at its storage key,
and the bytes past its last full part in the ``<key>.part`` tail object between PATCHes.

Every failure here is the store's one error (ObjectStoreUnavailable); what is only cleanup
(releasing an ended upload's bytes) is logged instead, and the janitor sweeps what stays.
"""

from __future__ import annotations

import hashlib
import logging

from lectern_common.objectstore import ObjectStore, ObjectStoreUnavailable

from lectern_upload.models import UploadRow

log = logging.getLogger(__name__)


def tail_key(row: UploadRow) -> str:
    return f"{row.storage_key}.part"


class UploadObjects:
    def __init__(self, store: ObjectStore, *, read_slice_bytes: int) -> None:
        self.store = store
        self._slice = read_slice_bytes

    @property
    def bucket(self) -> str:
        return self.store.bucket

    async def open_multipart(self, row: UploadRow) -> str:
        """Start the upload's multipart upload; answers its S3 id."""
        return await self.store.create_multipart_upload(row.storage_key, row.mime_type)

    async def read_tail(self, row: UploadRow) -> bytes:
        """The stored tail (``row.tail_size`` bytes); a shorter one is as unreadable as a failed read."""
        if not row.tail_size:
            return b""
        tail = await self.store.get_object(tail_key(row))
        if len(tail) != row.tail_size:
            raise ObjectStoreUnavailable("the stored tail of this upload is not readable")
        return tail

    async def keep_tail(self, row: UploadRow, tail: bytes | bytearray) -> None:
        await self.store.put_object(tail_key(row), tail)

    async def delete_tail(self, row: UploadRow) -> None:
        """Cleanup: a tail left behind costs only storage, so a failure is logged, not raised."""
        key = tail_key(row)
        try:
            await self.store.delete_object(key)
        except ObjectStoreUnavailable as exc:
            log.warning("could not delete %s: %r", key, exc.__cause__ or exc)

    async def release(self, row: UploadRow) -> None:
        """Abort the multipart upload (S3 drops its parts) and delete the tail object."""
        if row.s3_upload_id:
            try:
                await self.store.abort_multipart_upload(row.storage_key, row.s3_upload_id)
            except ObjectStoreUnavailable as exc:
                log.warning("upload %s: abort failed (%r); the janitor sweeps it later", row.id, exc.__cause__ or exc)
        await self.delete_tail(row)

    async def sha256_of(self, row: UploadRow, size: int) -> str:
        """Fallback when the hash state was lost: read the stored object back in slices."""
        digest = hashlib.sha256()
        for start in range(0, size, self._slice):
            digest.update(await self.store.get_object_range(row.storage_key, start, min(size, start + self._slice) - 1))
        return digest.hexdigest()
