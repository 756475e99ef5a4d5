"""lectern.media.v1 events -> the media read model, and finished uploads -> new lessons.

Runs inside the idempotent EventConsumer: one transaction per event, duplicates skipped by event
id. Types course does not care about are acknowledged and ignored.
"""

from __future__ import annotations

import logging

from lectern.events.v1 import media_events_pb2 as media_ev
from lectern.events.v1.event_types import MEDIA_FILE_CHANGES, MEDIA_FILE_READY
from lectern_common.events import Event
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.editing.service import EditingService
from lectern_course.media_summaries.service import GONE_BY_LIFECYCLE_EVENT, MediaFileFacts, MediaSummaryService

log = logging.getLogger(__name__)


def facts_from_event(payload: media_ev.MediaFileChanged) -> MediaFileFacts:
    def optional(name: str) -> str | None:
        value = getattr(payload, name)
        return str(value) if payload.HasField(name) and value else None  # type: ignore[arg-type]

    return MediaFileFacts(
        media_id=payload.media_id,
        owner_id=payload.owner_id,
        file_name=payload.file_name,
        status=payload.status,
        duration_seconds=payload.duration_seconds if payload.HasField("duration_seconds") else None,
        size_bytes=payload.size_bytes,
        version=payload.version,
        upload_operation_id=optional("upload_operation_id"),
        course_id=optional("course_id"),
        chapter_id=optional("chapter_id"),
        lesson_title=optional("lesson_title"),
    )


class MediaEventHandler:
    def __init__(self, summaries: MediaSummaryService, editing: EditingService) -> None:
        self._summaries = summaries
        self._editing = editing

    @property
    def event_types(self) -> frozenset[str]:
        """The event types this handler acts on; the consumer may skip the rest without a transaction."""
        return MEDIA_FILE_CHANGES | frozenset(GONE_BY_LIFECYCLE_EVENT)

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        if event.type in MEDIA_FILE_CHANGES:
            facts = facts_from_event(event.unpack(media_ev.MediaFileChanged))
            await self._summaries.record_file(session, facts)
            if event.type == MEDIA_FILE_READY:
                lesson_id = await self._editing.add_uploaded_lesson(
                    session, facts, actor_id=event.actor_id or facts.owner_id
                )
                if lesson_id:
                    log.info("upload %s added lesson %s", facts.upload_operation_id, lesson_id)
        elif event.type in GONE_BY_LIFECYCLE_EVENT:
            payload = event.unpack(media_ev.MediaFileLifecycleChanged)
            await self._summaries.record_lifecycle(session, event.type, payload.media_id, payload.version)
