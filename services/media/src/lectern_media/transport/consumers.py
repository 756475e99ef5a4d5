"""Kafka events -> service calls: uploads make files; course deletions, restores and lesson media
changes keep links in step with course content. Each event runs in the consumer's transaction
(idempotent by event id, see lectern_common.consumer)."""

from __future__ import annotations

import logging

from lectern.events.v1 import course_events_pb2, upload_events_pb2
from lectern.events.v1 import event_types as types
from lectern_common.events import Event
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.library.schemas import CompletedUpload
from lectern_media.library.service import LibraryService
from lectern_media.links.schemas import ResourceRef, ResourceType
from lectern_media.links.service import LinkService

log = logging.getLogger(__name__)


def _actor(event: Event) -> str:
    return event.actor_id or "system:course"


class MediaEventHandler:
    """The consumer's handler: one method per event type it cares about; others are ignored."""

    def __init__(self, library: LibraryService, links: LinkService) -> None:
        self._library = library
        self._links = links
        self._routes = {
            types.UPLOAD_COMPLETED: self._upload_completed,
            types.COURSE_CHAPTER_REMOVED: self._chapter_removed,
            types.COURSE_LESSON_REMOVED: self._lesson_removed,
            types.COURSE_DELETED: self._course_deleted,
            types.COURSE_RESTORED: self._course_restored,
            types.COURSE_LESSON_ADDED: self._lesson_added,
            types.COURSE_LESSON_MEDIA_SET: self._lesson_media_changed,
            types.COURSE_LESSON_MEDIA_CLEARED: self._lesson_media_changed,
        }

    @property
    def event_types(self) -> frozenset[str]:
        """The event types this handler acts on; the consumer skips the rest without a transaction."""
        return frozenset(self._routes)

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        route = self._routes.get(event.type)
        if route is not None:
            await route(session, event)

    async def _upload_completed(self, session: AsyncSession, event: Event) -> None:
        p: upload_events_pb2.UploadChanged = event.unpack(upload_events_pb2.UploadChanged)
        await self._library.register_upload(
            session,
            CompletedUpload(
                operation_id=p.operation_id or event.aggregate_id,
                owner_id=p.owner_id,
                file_name=p.file_name,
                mime_type=p.mime_type,
                size_bytes=p.size_bytes,
                bucket=p.bucket,
                storage_key=p.storage_key,
                checksum=p.checksum,
                course_id=p.course_id if p.HasField("course_id") else None,
                chapter_id=p.chapter_id if p.HasField("chapter_id") else None,
                lesson_title=p.lesson_title if p.HasField("lesson_title") else None,
            ),
            actor_id=p.owner_id or event.actor_id,
        )

    async def _chapter_removed(self, session: AsyncSession, event: Event) -> None:
        p: course_events_pb2.ChapterRemoved = event.unpack(course_events_pb2.ChapterRemoved)
        refs = [ResourceRef(ResourceType.CHAPTER, p.chapter_id)]
        refs += [ResourceRef(ResourceType.LESSON, lid) for lid in p.lesson_ids]
        await self._links.remove_for_targets(session, refs=refs, actor_id=_actor(event))

    async def _lesson_removed(self, session: AsyncSession, event: Event) -> None:
        p: course_events_pb2.LessonRemoved = event.unpack(course_events_pb2.LessonRemoved)
        await self._links.remove_for_targets(
            session, refs=[ResourceRef(ResourceType.LESSON, p.lesson_id)], actor_id=_actor(event)
        )

    async def _course_deleted(self, session: AsyncSession, event: Event) -> None:
        p: course_events_pb2.CourseLifecycleChanged = event.unpack(course_events_pb2.CourseLifecycleChanged)
        refs = [ResourceRef(ResourceType.COURSE, p.course_id)]
        refs += [ResourceRef(ResourceType.CHAPTER, cid) for cid in p.chapter_ids]
        refs += [ResourceRef(ResourceType.LESSON, lid) for lid in p.lesson_ids]
        await self._links.remove_for_targets(
            session, refs=refs, course_id=p.course_id, actor_id=_actor(event), keep_tombstones_for=p.course_id
        )

    async def _course_restored(self, session: AsyncSession, event: Event) -> None:
        p: course_events_pb2.CourseLifecycleChanged = event.unpack(course_events_pb2.CourseLifecycleChanged)
        await self._links.restore_course_links(session, course_id=p.course_id, actor_id=_actor(event))

    async def _lesson_added(self, session: AsyncSession, event: Event) -> None:
        p: course_events_pb2.LessonChanged = event.unpack(course_events_pb2.LessonChanged)
        if p.HasField("media_id") and p.media_id:
            await self._links.set_lesson_media(
                session,
                course_id=p.course_id,
                lesson_id=p.lesson_id,
                media_id=p.media_id,
                previous_media_id=None,
                actor_id=_actor(event),
            )

    async def _lesson_media_changed(self, session: AsyncSession, event: Event) -> None:
        p: course_events_pb2.LessonMediaChanged = event.unpack(course_events_pb2.LessonMediaChanged)
        media_id = p.media_id if p.HasField("media_id") and p.media_id else None
        previous = p.previous_media_id if p.HasField("previous_media_id") and p.previous_media_id else None
        if event.type == types.COURSE_LESSON_MEDIA_CLEARED:
            await self._links.remove_lesson_link(
                session, lesson_id=p.lesson_id, media_id=previous, actor_id=_actor(event)
            )
            return
        await self._links.set_lesson_media(
            session,
            course_id=p.course_id,
            lesson_id=p.lesson_id,
            media_id=media_id,
            previous_media_id=previous,
            actor_id=_actor(event),
        )
