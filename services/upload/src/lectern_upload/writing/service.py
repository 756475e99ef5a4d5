"""Writing a PATCH: the process's limits on writers, one writer per upload across replicas, and
the one place a storage failure becomes ``upload.storage_unavailable`` (503, retry from HEAD)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from lectern_common.objectstore import ObjectStoreUnavailable

from lectern_upload import errors
from lectern_upload.access import service as access
from lectern_upload.access.tokens import UploadGrant
from lectern_upload.uploads.locks import LOCK_WAIT_SECONDS, LockBusy, UploadLocks
from lectern_upload.uploads.schemas import ChunkChecksum, UploadView
from lectern_upload.writing.patch import PatchWrite, WriteTools

log = logging.getLogger(__name__)


class WriteService:
    def __init__(self, tools: WriteTools, locks: UploadLocks) -> None:
        self._tools = tools
        self._locks = locks
        self._write_slots = asyncio.Semaphore(tools.settings.max_concurrent_writes)
        self._writes_by_user: dict[str, int] = {}

    async def write(
        self,
        grant: UploadGrant,
        upload_id: str,
        *,
        offset: int,
        body: AsyncIterator[bytes],
        checksum: ChunkChecksum | None = None,
        upload_length: int | None = None,
    ) -> UploadView:
        """Append a PATCH body at ``offset``; answers the upload after it (its new offset).

        One writer per upload across replicas (advisory lock); a concurrent writer is refused
        with ``upload.locked``, a stale offset with ``upload.offset_mismatch``.
        """
        access.check_token_names(grant, upload_id)
        patch = PatchWrite(self._tools, grant, upload_id, offset=offset, checksum=checksum, upload_length=upload_length)
        with self._user_share(grant.owner_id):
            async with self._write_slot():
                try:
                    async with self._locks.hold(upload_id, wait_seconds=LOCK_WAIT_SECONDS):
                        return await patch.run(body)
                except LockBusy:
                    raise errors.locked(upload_id) from None
                except ObjectStoreUnavailable as exc:
                    log.warning("upload %s: object store failed during PATCH: %r", upload_id, exc.__cause__ or exc)
                    raise errors.storage_unavailable("the object store is unavailable; HEAD and resume") from exc

    @contextmanager
    def _user_share(self, owner_id: str) -> Iterator[None]:
        """One user's share of the writers, refused at once: waiting would still hold the socket."""
        limit = self._tools.settings.max_concurrent_writes_per_user
        if self._writes_by_user.get(owner_id, 0) >= limit:
            raise errors.user_busy(limit)
        self._writes_by_user[owner_id] = self._writes_by_user.get(owner_id, 0) + 1
        try:
            yield
        finally:
            left = self._writes_by_user[owner_id] - 1
            if left:
                self._writes_by_user[owner_id] = left
            else:
                del self._writes_by_user[owner_id]

    @asynccontextmanager
    async def _write_slot(self) -> AsyncIterator[None]:
        """Taken before the lock: each writer holds a pooled connection for it (see settings)."""
        try:
            async with asyncio.timeout(self._tools.settings.limit_wait_seconds):
                await self._write_slots.acquire()
        except TimeoutError:
            raise errors.busy(None) from None
        try:
            yield
        finally:
            self._write_slots.release()
