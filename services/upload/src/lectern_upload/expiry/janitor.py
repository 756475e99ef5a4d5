"""The expiry janitor, a long-running part: ends what clients left behind. Active uploads past
their expiry are expired (their parts and tail leave S3, upload.expired is emitted), and multipart
uploads under our prefix that no active upload owns are aborted. Safe on any number of replicas:
an upload is expired under its lock, and one being written right now waits for the next run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from lectern_common.db import UnitOfWork
from lectern_common.runtime import sleep_or_stop

from lectern_upload.storage.upload_objects import UploadObjects
from lectern_upload.uploads.endings import UploadEndings
from lectern_upload.uploads.locks import LockBusy, UploadLocks
from lectern_upload.uploads.repository import UploadRepository, load
from lectern_upload.uploads.schemas import ACTIVE, UploadStatus

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:upload"


class ExpiryJanitor:
    def __init__(
        self,
        *,
        uow: UnitOfWork,
        locks: UploadLocks,
        endings: UploadEndings,
        objects: UploadObjects,
        storage_prefix: str,
        interval: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._locks = locks
        self._endings = endings
        self._objects = objects
        self._prefix = storage_prefix
        self._interval = interval
        self._clock = clock

    async def expire_due(self) -> int:
        """Expire active uploads past their expiry; answers how many."""
        async with self._uow.read_only() as session:
            due = await UploadRepository(session).due_for_expiry(self._clock())
        expired = 0
        for upload_id in due:
            try:
                async with self._locks.hold(upload_id, wait_seconds=0):
                    row = await load(self._uow, upload_id)
                    if row.status in ACTIVE and row.expires_at <= self._clock():
                        await self._endings.end(
                            row,
                            UploadStatus.EXPIRED,
                            actor_id=SYSTEM_ACTOR,
                            error="the upload expired before it was complete",
                        )
                        expired += 1
            except LockBusy:
                continue
        return expired

    async def sweep_orphans(self) -> int:
        """Abort multipart uploads under our prefix that no active upload owns (a crash between
        CreateMultipartUpload and saving its id); answers how many."""
        store = self._objects.store
        aborted = 0
        for key, s3_upload_id in await store.list_multipart_uploads(self._prefix):
            async with self._uow.read_only() as session:
                row = await UploadRepository(session).get(key[len(self._prefix) :])
                session.expunge_all()
            if row is None:
                continue  # not ours to judge (another database shares the bucket in tests)
            if row.status in ACTIVE and row.s3_upload_id in (None, s3_upload_id):
                continue
            await store.abort_multipart_upload(key, s3_upload_id)
            aborted += 1
        return aborted

    async def run_once(self) -> None:
        count = await self.expire_due()
        if count:
            log.info("janitor: expired %d uploads", count)
        await self.sweep_orphans()

    async def run(self, stop: asyncio.Event) -> None:
        """Every ``interval`` seconds until stopped; a failed run is retried at the next."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("janitor run failed; retrying next interval")
            await sleep_or_stop(stop, self._interval)
