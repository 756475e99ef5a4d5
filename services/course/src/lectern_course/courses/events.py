"""The course's facts as outbox events (topic lectern.course.v1, key = course id).

Payloads are the messages of ``lectern/events/v1/course_events.proto`` and types the constants of
``lectern.events.v1.event_types``; every event carries the course version it produced, so
consumers can order and deduplicate per course.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from lectern.events.v1 import course_events_pb2 as ev
from lectern_common.identity import Identity
from lectern_common.outbox import OutboxWriter
from lectern_common.outbox import PendingEvent as OutboxEvent
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.courses.schemas import CourseView


def course_changed(course: CourseView) -> ev.CourseChanged:
    """The payload of course.created and course.updated."""
    return ev.CourseChanged(
        course_id=course.id,
        owner_id=course.owner_id,
        title=course.title,
        description=course.description,
        version=course.version,
    )


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

    async def write_for(
        self, session: AsyncSession, course: CourseView, identity: Identity, events: list[PendingEvent]
    ) -> None:
        """Write ``events`` of a change ``identity`` made, at the version it gave ``course``."""
        await self.write(session, course_id=course.id, version=course.version, actor_id=identity.user_id, events=events)
