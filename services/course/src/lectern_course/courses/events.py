"""The course's facts as outbox events (topic lectern.course.v1, key = course id).

Payloads are the messages of ``lectern/events/v1/course_events.proto``; every event carries the
course version it produced, so consumers can order and deduplicate per course.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from lectern_common.outbox import OutboxWriter
from lectern_common.outbox import PendingEvent as OutboxEvent
from sqlalchemy.ext.asyncio import AsyncSession

COURSE_CREATED = "course.created"
COURSE_UPDATED = "course.updated"
COURSE_DELETED = "course.deleted"
COURSE_RESTORED = "course.restored"
COURSE_PUBLISHED = "course.published"
COURSE_UNPUBLISHED = "course.unpublished"
CHAPTER_ADDED = "course.chapter.added"
CHAPTER_REMOVED = "course.chapter.removed"
CHAPTER_MOVED = "course.chapter.moved"
CHAPTER_RENAMED = "course.chapter.renamed"
LESSON_ADDED = "course.lesson.added"
LESSON_REMOVED = "course.lesson.removed"
LESSON_MOVED = "course.lesson.moved"
LESSON_RENAMED = "course.lesson.renamed"
LESSON_MEDIA_SET = "course.lesson.media_set"
LESSON_MEDIA_CLEARED = "course.lesson.media_cleared"


@dataclass(frozen=True)
class PendingEvent:
    """An event decided during a change, written once the change's new version is known."""

    event_type: str
    payload: Message


class CourseEvents:
    """Writes course events to the outbox in the caller's transaction."""

    def __init__(self, outbox: OutboxWriter, topic: str) -> None:
        self._outbox = outbox
        self._topic = topic

    async def write(
        self, session: AsyncSession, *, course_id: str, version: int, actor_id: str, events: list[PendingEvent]
    ) -> None:
        # One INSERT for the whole change: a save of many operations emits many events.
        await self._outbox.add_many(
            session,
            [
                OutboxEvent(self._topic, event.event_type, course_id, version, actor_id, event.payload)
                for event in events
            ],
        )
