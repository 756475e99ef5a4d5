"""The course's facts as outbox events (topic lectern.course.v1, key = course id).

Payloads are the messages of ``lectern/events/v1/course_events.proto``; every event carries the
course version it produced, so consumers can order and deduplicate per course.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from lectern_common.outbox import OutboxWriter
from sqlalchemy.ext.asyncio import AsyncSession

COURSE_CREATED = "course.created"
COURSE_UPDATED = "course.updated"
COURSE_DELETED = "course.deleted"
COURSE_RESTORED = "course.restored"
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
        for event in events:
            await self._outbox.add(
                session,
                topic=self._topic,
                event_type=event.event_type,
                aggregate_id=course_id,
                aggregate_version=version,
                actor_id=actor_id,
                payload=event.payload,
            )
