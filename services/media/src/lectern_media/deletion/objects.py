"""Deleting a removed file's bytes from the object store: the queue a hard delete or a purge fills
in its own transaction, drained right after a hard delete commits and by every purge run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lectern_common.db import UnitOfWork
from lectern_common.objectstore import ObjectStore
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.deletion.repository import ObjectDeletionRepository

log = logging.getLogger(__name__)

ObjectStores = Callable[[str], ObjectStore]
"""The object store for a bucket name."""

AFTER_HARD_DELETE_BATCH = 10


class ObjectDeletions:
    def __init__(self, uow: UnitOfWork, object_stores: ObjectStores, *, call_timeout: float = 30.0) -> None:
        self._uow = uow
        self._stores = object_stores
        self._timeout = call_timeout
        self._after_deletes: set[asyncio.Task[None]] = set()

    async def delete_pending(self, session: AsyncSession, *, limit: int = 100) -> int:
        """Delete queued objects from the store; failures stay queued for the next run. Rows another
        worker holds are skipped."""
        queue = ObjectDeletionRepository(session)
        done: list[int] = []
        failed: list[int] = []
        for task in await queue.claim(limit):
            try:
                store = self._stores(task.bucket)
                await asyncio.wait_for(store.delete_object(task.storage_key), timeout=self._timeout)
                done.append(task.id)
            except Exception as exc:
                log.warning("could not delete object %s/%s: %r; will retry", task.bucket, task.storage_key, exc)
                failed.append(task.id)
        await queue.done(done)
        await queue.failed(failed)
        return len(done)

    def start_after_delete(self) -> None:
        """Delete the bytes a committed hard delete queued, in the background: storage under load
        must not hold the caller's answer past its deadline (the delete has committed, and a
        failure here must not make it look failed), and the purge job retries whatever fails."""
        task = asyncio.create_task(self._delete_after_delete(), name="media-object-cleanup")
        self._after_deletes.add(task)
        task.add_done_callback(self._after_deletes.discard)

    async def _delete_after_delete(self) -> None:
        try:
            async with self._uow() as session:
                await self.delete_pending(session, limit=AFTER_HARD_DELETE_BATCH)
        except Exception:  # the queue keeps the rows; the purge job tries again
            log.warning("deleting queued objects after a hard delete failed", exc_info=True)

    async def drain(self, timeout: float = 10.0) -> None:
        """Let the deletions started after hard deletes finish (shutdown)."""
        if self._after_deletes:
            await asyncio.wait(set(self._after_deletes), timeout=timeout)
