"""The last step of a PATCH that brings the upload to its length: the last part, the multipart
completion, the SHA-256 of the whole file, and the row moved on to ``processing``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime

from lectern.events.v1 import event_types as types
from lectern_common.db import UnitOfWork

from lectern_upload import errors
from lectern_upload.events import UploadEvents
from lectern_upload.models import UploadRow
from lectern_upload.progress.publisher import ProgressThrottle, ProgressThrottles
from lectern_upload.storage.part_writer import PartWriter
from lectern_upload.storage.upload_objects import UploadObjects
from lectern_upload.uploads.endings import UploadEndings
from lectern_upload.uploads.repository import UploadRepository
from lectern_upload.uploads.schemas import UploadStatus, UploadView

log = logging.getLogger(__name__)


class Completion:
    def __init__(
        self,
        *,
        uow: UnitOfWork,
        objects: UploadObjects,
        events: UploadEvents,
        endings: UploadEndings,
        progress: ProgressThrottles,
        clock: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._objects = objects
        self._events = events
        self._endings = endings
        self._progress = progress
        self._clock = clock

    async def finish(
        self, row: UploadRow, writer: PartWriter, *, hash_whole: bool, progress: ProgressThrottle
    ) -> UploadView:
        """Complete the object; a failure fails the upload (its bytes are released).

        ``hash_whole``: the writer's hash saw every byte (else the object is read back for it)."""
        assert row.s3_upload_id is not None and row.size_bytes is not None
        try:
            digest = await writer.complete()
            if not hash_whole:
                digest = await self._objects.sha256_of(row, row.size_bytes)
        except Exception:
            log.exception("upload %s: completing the object failed", row.id)
            await self._endings.fail(row, "storing the file failed")
            raise errors.storing_failed() from None
        if row.tail_size:
            await self._objects.delete_tail(row)
        async with self._uow() as session:
            fresh = await UploadRepository(session).get(row.id, for_update=True)
            assert fresh is not None
            # Every byte is stored; media makes the file from upload.completed, and its
            # media.file.* events move this row on to completed (with the media id) or failed.
            fresh.status = UploadStatus.PROCESSING.value
            fresh.offset = row.size_bytes
            fresh.parts = [asdict(p) for p in writer.parts]
            fresh.tail_size = 0
            fresh.hash_state = None
            fresh.checksum = f"sha256:{digest}"
            fresh.completed_at = self._clock()
            fresh.updated_at = fresh.completed_at
            fresh.version += 1
            await session.flush()
            await self._events.changed(session, fresh, types.UPLOAD_COMPLETED, actor_id=fresh.owner_id)
        progress.report(row.size_bytes)
        self._progress.forget(row.id)
        return UploadView.of(fresh)
