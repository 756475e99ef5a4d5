"""lectern.media.v1, lectern.course.v1 and lectern.engagement.v1 events -> the facts they carry.

Runs inside the idempotent EventConsumer, duplicates skipped by event id: ``fold_batch`` takes a
fetched batch in one transaction, ``__call__`` one event (the consumer's fallback when a batch
fails); both translate each event and hand the changes, in order, to ``FactService.fold_many``.
Types analytics does not fold (chapter moves, renames of chapters, uploads) are acknowledged and
ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC

from lectern.events.v1 import course_events_pb2 as course_ev
from lectern.events.v1 import engagement_events_pb2 as engagement_ev
from lectern.events.v1 import event_types as types
from lectern.events.v1 import media_events_pb2 as media_ev
from lectern_common.events import Event
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_analytics.engagement.schemas import RecordedEngagement
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

Change = facts.FactChange | RecordedEngagement


def _optional(message: object, name: str) -> str | None:
    value = getattr(message, name)
    return value if message.HasField(name) and value else None  # type: ignore[attr-defined]


class AnalyticsEventHandler:
    def __init__(self, facts_service: FactService) -> None:
        self._facts = facts_service
        self._translations: dict[str, Callable[[Event], Change]] = {
            **dict.fromkeys(types.MEDIA_FILE_CHANGES, _media_file),
            **dict.fromkeys(MEDIA_LIFECYCLE_EVENTS, _media_lifecycle),
            types.MEDIA_LINK_ADDED: _media_link,
            types.MEDIA_LINK_REMOVED: _media_link,
            types.COURSE_CREATED: _course,
            types.COURSE_UPDATED: _course,
            types.COURSE_DELETED: _course_lifecycle,
            types.COURSE_RESTORED: _course_lifecycle,
            **dict.fromkeys(LESSON_EVENTS, _lesson),
            types.COURSE_LESSON_REMOVED: _lesson_removed,
            types.COURSE_CHAPTER_REMOVED: _chapter_removed,
            types.COURSE_LESSON_MEDIA_SET: _lesson_media,
            types.COURSE_LESSON_MEDIA_CLEARED: _lesson_media,
            types.ENGAGEMENT_RECORDED: _recorded,
        }

    @property
    def event_types(self) -> frozenset[str]:
        """The event types this handler acts on; the consumer skips the rest without a transaction."""
        return frozenset(self._translations)

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        await self.fold_batch(session, [event])

    async def fold_batch(self, session: AsyncSession, events: Sequence[Event]) -> None:
        changes: list[Change] = []
        for event in events:
            translate = self._translations.get(event.type)
            if translate is None:
                log.debug("analytics ignores %s", event.type)
            else:
                changes.append(translate(event))
        await self._facts.fold_many(session, changes)


def _media_file(event: Event) -> facts.MediaFileState:
    p = event.unpack(media_ev.MediaFileChanged)
    return facts.MediaFileState(
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
    )


def _media_link(event: Event) -> facts.MediaLinkChange:
    p = event.unpack(media_ev.MediaLinkChanged)
    return facts.MediaLinkChange(
        media_id=p.media_id,
        owner_id=p.owner_id,
        resource_type=p.resource_type,
        resource_id=p.resource_id,
        course_id=p.course_id,
        usage_count=p.usage_count,
        added=event.type == types.MEDIA_LINK_ADDED,
        occurred_at=event.occurred_at,
    )


def _media_lifecycle(event: Event) -> facts.MediaLifecycleChange:
    p = event.unpack(media_ev.MediaFileLifecycleChanged)
    return facts.MediaLifecycleChange(
        media_id=p.media_id,
        owner_id=p.owner_id,
        change=MEDIA_LIFECYCLE_EVENTS[event.type],
        version=p.version,
        occurred_at=event.occurred_at,
    )


def _course(event: Event) -> facts.CourseState:
    p = event.unpack(course_ev.CourseChanged)
    return facts.CourseState(
        course_id=p.course_id, owner_id=p.owner_id, title=p.title, version=p.version, occurred_at=event.occurred_at
    )


def _course_lifecycle(event: Event) -> facts.CourseLifecycleChange:
    p = event.unpack(course_ev.CourseLifecycleChanged)
    return facts.CourseLifecycleChange(
        course_id=p.course_id,
        owner_id=p.owner_id,
        deleted=event.type == types.COURSE_DELETED,
        version=p.version,
        occurred_at=event.occurred_at,
    )


def _lesson(event: Event) -> facts.LessonState:
    p = event.unpack(course_ev.LessonChanged)
    return facts.LessonState(
        lesson_id=p.lesson_id,
        course_id=p.course_id,
        chapter_id=p.chapter_id,
        title=p.title,
        media_id=_optional(p, "media_id"),
        owner_id=p.owner_id,
        occurred_at=event.occurred_at,
    )


def _lesson_removed(event: Event) -> facts.LessonsRemoved:
    p = event.unpack(course_ev.LessonRemoved)
    return facts.LessonsRemoved(course_id=p.course_id, lesson_ids=(p.lesson_id,))


def _chapter_removed(event: Event) -> facts.LessonsRemoved:
    p = event.unpack(course_ev.ChapterRemoved)
    return facts.LessonsRemoved(course_id=p.course_id, lesson_ids=tuple(p.lesson_ids))


def _lesson_media(event: Event) -> facts.LessonMediaChange:
    p = event.unpack(course_ev.LessonMediaChanged)
    media_id = None if event.type == types.COURSE_LESSON_MEDIA_CLEARED else _optional(p, "media_id")
    return facts.LessonMediaChange(lesson_id=p.lesson_id, course_id=p.course_id, media_id=media_id)


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
