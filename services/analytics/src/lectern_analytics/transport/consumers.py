"""lectern.media.v1, lectern.course.v1 and lectern.engagement.v1 events -> the fact tables.

Runs inside the idempotent EventConsumer, duplicates skipped by event id: ``fold_batch`` takes a
fetched batch in one transaction (runs of engagement events in one multi-row insert), ``__call__``
one event (the consumer's fallback when a batch fails). Types analytics does not fold (chapter
moves, renames of chapters, uploads) are acknowledged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC

from lectern.events.v1 import course_events_pb2 as course_ev
from lectern.events.v1 import engagement_events_pb2 as engagement_ev
from lectern.events.v1 import event_types as types
from lectern.events.v1 import media_events_pb2 as media_ev
from lectern_common.events import Event
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_analytics.engagement.schemas import RecordedEngagement
from lectern_analytics.engagement.service import EngagementService
from lectern_analytics.facts import schemas as facts
from lectern_analytics.facts.service import FactService

log = logging.getLogger(__name__)

MEDIA_LIFECYCLE_EVENTS = {
    types.MEDIA_FILE_SOFT_DELETED: facts.Lifecycle.SOFT_DELETED,
    types.MEDIA_FILE_RESTORED: facts.Lifecycle.RESTORED,
    types.MEDIA_FILE_HARD_DELETED: facts.Lifecycle.HARD_DELETED,
    types.MEDIA_FILE_PURGED: facts.Lifecycle.PURGED,
}
LESSON_EVENTS = frozenset({types.COURSE_LESSON_ADDED, types.COURSE_LESSON_MOVED, types.COURSE_LESSON_RENAMED})


def _optional(message: object, name: str) -> str | None:
    value = getattr(message, name)
    return value if message.HasField(name) and value else None  # type: ignore[attr-defined]


class AnalyticsEventHandler:
    def __init__(self, facts_service: FactService, engagement: EngagementService) -> None:
        self._facts = facts_service
        self._engagement = engagement
        self._routes: dict[str, Callable[[AsyncSession, Event], Awaitable[None]]] = {
            **dict.fromkeys(types.MEDIA_FILE_CHANGES, self._media_file),
            **dict.fromkeys(MEDIA_LIFECYCLE_EVENTS, self._media_lifecycle),
            types.MEDIA_LINK_ADDED: self._media_link,
            types.MEDIA_LINK_REMOVED: self._media_link,
            types.COURSE_CREATED: self._course,
            types.COURSE_UPDATED: self._course,
            types.COURSE_DELETED: self._course_lifecycle,
            types.COURSE_RESTORED: self._course_lifecycle,
            **dict.fromkeys(LESSON_EVENTS, self._lesson),
            types.COURSE_LESSON_REMOVED: self._lesson_removed,
            types.COURSE_CHAPTER_REMOVED: self._chapter_removed,
            types.COURSE_LESSON_MEDIA_SET: self._lesson_media,
            types.COURSE_LESSON_MEDIA_CLEARED: self._lesson_media,
            types.ENGAGEMENT_RECORDED: self._engagement_recorded,
        }

    @property
    def event_types(self) -> frozenset[str]:
        """The event types this handler acts on; the consumer skips the rest without a transaction."""
        return frozenset(self._routes)

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        route = self._routes.get(event.type)
        if route is None:
            log.debug("analytics ignores %s", event.type)
            return
        await route(session, event)

    async def fold_batch(self, session: AsyncSession, events: Sequence[Event]) -> None:
        """Every event in order, as ``__call__`` would; each run of ``engagement.recorded`` events
        (most of the traffic) stored in one statement."""
        run: list[RecordedEngagement] = []
        for event in events:
            if event.type == types.ENGAGEMENT_RECORDED:
                run.append(_recorded(event))
                continue
            await self._engagement.fold_many(session, run)
            run = []
            await self(session, event)
        await self._engagement.fold_many(session, run)

    async def _media_file(self, session: AsyncSession, event: Event) -> None:
        p = event.unpack(media_ev.MediaFileChanged)
        await self._facts.record_media_file(
            session,
            facts.MediaFileState(
                media_id=p.media_id,
                owner_id=p.owner_id,
                title=p.title,
                file_name=p.file_name,
                mime_type=p.mime_type,
                size_bytes=p.size_bytes,
                status=p.status or "processing",
                duration_seconds=p.duration_seconds if p.HasField("duration_seconds") else None,
                version=p.version,
                occurred_at=event.occurred_at,
            ),
        )

    async def _media_link(self, session: AsyncSession, event: Event) -> None:
        p = event.unpack(media_ev.MediaLinkChanged)
        await self._facts.record_media_link(
            session,
            facts.MediaLinkChange(
                media_id=p.media_id,
                owner_id=p.owner_id,
                resource_type=p.resource_type,
                resource_id=p.resource_id,
                course_id=p.course_id,
                usage_count=p.usage_count,
                added=event.type == types.MEDIA_LINK_ADDED,
                occurred_at=event.occurred_at,
            ),
        )

    async def _media_lifecycle(self, session: AsyncSession, event: Event) -> None:
        p = event.unpack(media_ev.MediaFileLifecycleChanged)
        await self._facts.record_media_lifecycle(
            session,
            facts.MediaLifecycleChange(
                media_id=p.media_id,
                owner_id=p.owner_id,
                change=MEDIA_LIFECYCLE_EVENTS[event.type],
                version=p.version,
                occurred_at=event.occurred_at,
            ),
        )

    async def _course(self, session: AsyncSession, event: Event) -> None:
        p = event.unpack(course_ev.CourseChanged)
        await self._facts.record_course(
            session,
            facts.CourseState(
                course_id=p.course_id,
                owner_id=p.owner_id,
                title=p.title,
                version=p.version,
                occurred_at=event.occurred_at,
            ),
        )

    async def _course_lifecycle(self, session: AsyncSession, event: Event) -> None:
        p = event.unpack(course_ev.CourseLifecycleChanged)
        await self._facts.record_course_lifecycle(
            session,
            facts.CourseLifecycleChange(
                course_id=p.course_id,
                owner_id=p.owner_id,
                deleted=event.type == types.COURSE_DELETED,
                version=p.version,
                occurred_at=event.occurred_at,
            ),
        )

    async def _lesson(self, session: AsyncSession, event: Event) -> None:
        p = event.unpack(course_ev.LessonChanged)
        await self._facts.record_lesson(
            session,
            facts.LessonState(
                lesson_id=p.lesson_id,
                course_id=p.course_id,
                chapter_id=p.chapter_id,
                title=p.title,
                media_id=_optional(p, "media_id"),
                owner_id=p.owner_id,
                occurred_at=event.occurred_at,
            ),
        )

    async def _lesson_removed(self, session: AsyncSession, event: Event) -> None:
        p = event.unpack(course_ev.LessonRemoved)
        await self._facts.remove_lessons(session, p.course_id, [p.lesson_id])

    async def _chapter_removed(self, session: AsyncSession, event: Event) -> None:
        p = event.unpack(course_ev.ChapterRemoved)
        await self._facts.remove_lessons(session, p.course_id, list(p.lesson_ids))

    async def _lesson_media(self, session: AsyncSession, event: Event) -> None:
        p = event.unpack(course_ev.LessonMediaChanged)
        media_id = None if event.type == types.COURSE_LESSON_MEDIA_CLEARED else _optional(p, "media_id")
        await self._facts.record_lesson_media(
            session, facts.LessonMediaChange(lesson_id=p.lesson_id, course_id=p.course_id, media_id=media_id)
        )

    async def _engagement_recorded(self, session: AsyncSession, event: Event) -> None:
        await self._engagement.fold_many(session, [_recorded(event)])


def _recorded(event: Event) -> RecordedEngagement:
    p = event.unpack(engagement_ev.EngagementRecorded)
    return RecordedEngagement(
        event_id=event.id,
        user_id=p.user_id,
        type=p.type,
        course_id=p.course_id,
        lesson_id=_optional(p, "lesson_id"),
        media_id=_optional(p, "media_id"),
        at=p.at.ToDatetime(tzinfo=UTC) if p.HasField("at") else event.occurred_at,
        value=p.value if p.HasField("value") else None,
    )
