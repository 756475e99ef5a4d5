"""The purge job: hard-deletes files that stayed soft-deleted past the retention, then deletes
their bytes. Safe on any number of replicas at once (rows are claimed with SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from lectern_common.db import UnitOfWork
from lectern_common.runtime import sleep_or_stop

from lectern_media.deletion.service import DeletionService

log = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    purged: list[str]
    objects_deleted: int


class PurgeJob:
    def __init__(self, uow: UnitOfWork, deletion: DeletionService, *, interval: float, batch_size: int) -> None:
        self._uow = uow
        self._deletion = deletion
        self._interval = interval
        self._batch = batch_size

    async def run_once(self, now: datetime | None = None) -> PurgeReport:
        """Purge every expired file (one transaction per batch), then drain the object deletions."""
        now = now or datetime.now(UTC)
        purged: list[str] = []
        while True:
            async with self._uow() as session:
                batch = await self._deletion.purge_expired(session, now=now, limit=self._batch)
            purged += batch
            if len(batch) < self._batch:
                break
        deleted = 0
        while True:
            async with self._uow() as session:
                n = await self._deletion.objects.delete_pending(session, limit=self._batch)
            deleted += n
            if n < self._batch:
                break
        if purged or deleted:
            log.info("purge: %d file(s) purged, %d object(s) deleted", len(purged), deleted)
        return PurgeReport(purged=purged, objects_deleted=deleted)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("purge run failed; retrying next interval")
            await sleep_or_stop(stop, self._interval)
