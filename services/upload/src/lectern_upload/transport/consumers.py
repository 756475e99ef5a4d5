"""Kafka events -> service calls: media's ``media.file.*`` events tell an upload which file it
became (or why it became none). Each event runs in the consumer's transaction, idempotent by event
id (lectern_common.consumer), and the service's update is idempotent by itself too."""

from __future__ import annotations

from lectern.events.v1 import event_types as types
from lectern.events.v1 import media_events_pb2
from lectern_common.events import Event
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_upload.uploads.schemas import MediaOutcome
from lectern_upload.uploads.service import UploadService

_OUTCOMES = {
    types.MEDIA_FILE_REGISTERED: MediaOutcome.REGISTERED,
    types.MEDIA_FILE_READY: MediaOutcome.READY,
    types.MEDIA_FILE_FAILED: MediaOutcome.FAILED,
}


class UploadEventHandler:
    """The consumer's handler for ``lectern.media.v1``; other media events are not read."""

    def __init__(self, service: UploadService) -> None:
        self._service = service

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(_OUTCOMES)

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        outcome = _OUTCOMES.get(event.type)
        if outcome is None:
            return
        media = event.unpack(media_events_pb2.MediaFileChanged)
        if not (media.HasField("upload_operation_id") and media.upload_operation_id):
            return  # a file that did not come from an upload
        await self._service.record_media_outcome(
            session,
            media.upload_operation_id,
            outcome,
            media_id=media.media_id or event.aggregate_id,
            error=media.error if media.HasField("error") and media.error else None,
        )
