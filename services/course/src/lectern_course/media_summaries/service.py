"""The media read model: what course knows of media files, folded from ``lectern.media.v1``.

GetCourseEdit reads it in the same query as the lessons, so the editor tree never waits on media
(and is still whole when media is down). Events may arrive in any order across partitions; the
stored version keeps an older event from overwriting a newer one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lectern.events.v1 import event_types
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.media_summaries.repository import MediaSummaryRepository

log = logging.getLogger(__name__)

# media.file.* lifecycle events and what they mean for the summary's visibility.
GONE_BY_LIFECYCLE_EVENT = {
    event_types.MEDIA_FILE_SOFT_DELETED: True,
    event_types.MEDIA_FILE_HARD_DELETED: True,
    event_types.MEDIA_FILE_PURGED: True,
    event_types.MEDIA_FILE_RESTORED: False,
}


@dataclass(frozen=True)
class MediaFileFacts:
    """The part of a MediaFileChanged event course keeps (and uses to add uploaded lessons)."""

    media_id: str
    owner_id: str
    file_name: str
    status: str
    duration_seconds: float | None
    size_bytes: int
    version: int
    upload_operation_id: str | None = None
    course_id: str | None = None
    chapter_id: str | None = None
    lesson_title: str | None = None


class MediaSummaryService:
    async def record_file(self, session: AsyncSession, facts: MediaFileFacts) -> None:
        """Store the newest known summary of a media file."""
        await MediaSummaryRepository(session).upsert(
            media_id=facts.media_id,
            owner_id=facts.owner_id,
            file_name=facts.file_name,
            status=facts.status or "processing",
            duration_seconds=facts.duration_seconds,
            size_bytes=facts.size_bytes,
            version=facts.version,
        )

    async def record_lifecycle(self, session: AsyncSession, event_type: str, media_id: str, version: int) -> None:
        """Hide a deleted file's summary from the editor tree, or show it again once restored."""
        gone = GONE_BY_LIFECYCLE_EVENT.get(event_type)
        if gone is None:
            log.debug("ignoring media lifecycle event %s", event_type)
            return
        await MediaSummaryRepository(session).set_gone(media_id, gone=gone, version=version)
