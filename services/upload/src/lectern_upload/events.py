"""The events upload publishes (topic lectern.upload.v1, key = upload id), always through the
outbox so they commit with the change they describe. Event types are the constants of
``lectern.events.v1.event_types``."""

from __future__ import annotations

from lectern.events.v1 import event_types as types
from lectern.events.v1.upload_events_pb2 import UploadChanged
from lectern_common.events import UPLOAD_TOPIC
from lectern_common.outbox import OutboxWriter
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_upload.models import UploadRow


class UploadEvents:
    """Builds each event's payload from the row it describes and writes it to the outbox."""

    def __init__(self, outbox: OutboxWriter, *, topic: str = UPLOAD_TOPIC) -> None:
        self._outbox = outbox
        self._topic = topic

    async def changed(self, session: AsyncSession, row: UploadRow, event_type: str, *, actor_id: str) -> None:
        """``event_type`` happened to ``row`` (its version is the one just written)."""
        payload = UploadChanged(
            operation_id=row.id,
            owner_id=row.owner_id,
            status=row.status,
            file_name=row.file_name,
            mime_type=row.mime_type,
            size_bytes=row.size_bytes or 0,
            bucket=row.bucket,
            # Only a completed upload names its object: before that it is not a file to read.
            storage_key=row.storage_key if event_type == types.UPLOAD_COMPLETED else "",
            checksum=row.checksum or "",
        )
        for field in ("course_id", "chapter_id", "lesson_title", "error"):
            value = getattr(row, field)
            if value:
                setattr(payload, field, value)
        await self._outbox.add(
            session,
            topic=self._topic,
            event_type=event_type,
            aggregate_id=row.id,
            aggregate_version=row.version,
            actor_id=actor_id,
            payload=payload,
        )
