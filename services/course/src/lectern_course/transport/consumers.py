"""lectern.media.v1 events -> the media read model, and finished uploads -> new lessons.

Runs inside the idempotent EventConsumer: one transaction per event, duplicates skipped by event
id. Types course does not care about are acknowledged and ignored.
"""

from __future__ import annotations

import logging

from lectern.events.v1 import media_events_pb2 as media_ev
from lectern_common.events import Event
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.editing.service import EditingService
from lectern_course.media_summaries.service import GONE_BY_LIFECYCLE_EVENT, MediaFileFacts, MediaSummaryService

log = logging.getLogger(__name__)

FILE_EVENTS = frozenset({"media.file.registered", "media.file.ready", "media.file.failed", "media.file.updated"})


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

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        if event.type in FILE_EVENTS:
            facts = facts_from_event(event.unpack(media_ev.MediaFileChanged))
            await self._summaries.record_file(session, facts)
            if event.type == "media.file.ready":
                lesson_id = await self._editing.add_uploaded_lesson(
                    session, facts, actor_id=event.actor_id or facts.owner_id
                )
                if lesson_id:
                    log.info("upload %s added lesson %s", facts.upload_operation_id, lesson_id)
        elif event.type in GONE_BY_LIFECYCLE_EVENT:
            payload = event.unpack(media_ev.MediaFileLifecycleChanged)
            await self._summaries.record_lifecycle(session, event.type, payload.media_id, payload.version)
