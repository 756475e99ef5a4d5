"""How an upload ends without completing: cancelled or expired (its bytes leave the store), or
failed while its object was being completed. Each writes the row and its event in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lectern.events.v1 import event_types as types
from lectern_common.db import UnitOfWork

from lectern_upload.events import UploadEvents
from lectern_upload.models import UploadRow
from lectern_upload.storage.upload_objects import UploadObjects
from lectern_upload.uploads.repository import UploadRepository
from lectern_upload.uploads.schemas import UploadStatus, UploadView

_EVENT_BY_STATUS = {UploadStatus.CANCELLED: types.UPLOAD_CANCELLED, UploadStatus.EXPIRED: types.UPLOAD_EXPIRED}


class UploadEndings:
    def __init__(
        self, *, uow: UnitOfWork, objects: UploadObjects, events: UploadEvents, clock: Callable[[], datetime]
    ) -> None:
        self._uow = uow
        self._objects = objects
        self._events = events
        self._clock = clock

    async def end(self, row: UploadRow, status: UploadStatus, *, actor_id: str, error: str | None = None) -> UploadView:
        """Cancel or expire ``row`` (held under its lock): its bytes go, its state is cleared."""
        await self._objects.release(row)
        async with self._uow() as session:
            fresh = await UploadRepository(session).get(row.id, for_update=True)
            assert fresh is not None
            fresh.status = status.value
            fresh.error = error
            fresh.parts = []
            fresh.tail_size = 0
            fresh.hash_state = None
            fresh.version += 1
            fresh.updated_at = self._clock()
            await session.flush()
            await self._events.changed(session, fresh, _EVENT_BY_STATUS[status], actor_id=actor_id)
        return UploadView.of(fresh)

    async def fail(self, row: UploadRow, error: str) -> None:
        """Storing the file failed: its bytes go and it is failed with ``error``, which is shown
        to the user (getUpload, upload-failed), so it never holds exception text."""
        await self._objects.release(row)
        async with self._uow() as session:
            fresh = await UploadRepository(session).get(row.id, for_update=True)
            assert fresh is not None
            fresh.status = UploadStatus.FAILED.value
            fresh.error = error
            fresh.version += 1
            fresh.updated_at = self._clock()
            await session.flush()
            await self._events.changed(session, fresh, types.UPLOAD_FAILED, actor_id=fresh.owner_id)
