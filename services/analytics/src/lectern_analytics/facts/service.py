"""Folding other services' events into the fact tables, and invalidating the cached domains that
read those facts (after the commit, see dashboards.cache).

``fold_many`` takes the changes of a fetched batch (or of one event) in order: runs of the
frequent kinds (file states, link changes, lesson states, engagement facts) are stored a
statement per kind (``facts.segment``), any other change on its own where it stands.

Every write is safe to run twice (the consumer also deduplicates by event id) and tolerates the
orders Kafka allows: one aggregate's events arrive in order, different aggregates' in any order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lectern_analytics.dashboards.cache import invalidate_after_commit
from lectern_analytics.dashboards.domains import Source, domains_reading
from lectern_analytics.engagement.schemas import RecordedEngagement
from lectern_analytics.engagement.service import EngagementService
from lectern_analytics.facts.repository import FactRepository
from lectern_analytics.facts.schemas import (
    CourseLifecycleChange,
    CourseState,
    FactChange,
    LessonMediaChange,
    LessonsRemoved,
    Lifecycle,
    MediaLifecycleChange,
)
from lectern_analytics.facts.segment import Segment


def _invalidate(session: AsyncSession, owner_ids: Iterable[str | None], source: Source) -> None:
    for owner_id in set(owner_ids):
        if owner_id:
            invalidate_after_commit(session, owner_id, domains_reading(source))


class FactService:
    def __init__(self, engagement: EngagementService) -> None:
        self._engagement = engagement
        # The changes stored one at a time, each where it stands in the batch.
        self._one_at_a_time: dict[type, Callable[[AsyncSession, Any], Awaitable[None]]] = {
            MediaLifecycleChange: self.record_media_lifecycle,
            CourseState: self.record_course,
            CourseLifecycleChange: self.record_course_lifecycle,
            LessonMediaChange: self.record_lesson_media,
            LessonsRemoved: self.remove_lessons,
        }

    async def fold_many(self, session: AsyncSession, changes: Sequence[FactChange | RecordedEngagement]) -> None:
        """Store ``changes`` with the effect of storing each in turn, in as few statements as that
        allows (see ``facts.segment``)."""
        segment = Segment()
        for change in changes:
            if segment.add(change):
                continue
            await self._store(session, segment)
            segment = Segment()
            if not segment.add(change):
                await self._one_at_a_time[type(change)](session, change)
        await self._store(session, segment)

    async def _store(self, session: AsyncSession, segment: Segment) -> None:
        if not segment:
            return
        facts = FactRepository(session)
        await facts.upsert_media_files([(merged.created_at, merged.latest) for merged in segment.files.values()])
        await facts.remove_links([key for key, merged in segment.links.items() if merged.removed])
        await facts.add_links([merged.added for merged in segment.links.values() if merged.added is not None])
        await facts.set_usage_counts(segment.usage_counts)
        await facts.upsert_lessons([(merged.first, merged.latest) for merged in segment.lessons.values()])
        await self._engagement.fold_many(session, segment.engagement)
        looked_up_media = (await facts.media_owners(segment.media_to_look_up)).values()
        _invalidate(session, [*segment.media_owners, *looked_up_media], Source.MEDIA)
        looked_up_courses = (await facts.course_owners(segment.courses_to_look_up)).values()
        _invalidate(session, [*segment.course_owners, *looked_up_courses], Source.COURSE)

    async def record_media_lifecycle(self, session: AsyncSession, change: MediaLifecycleChange) -> None:
        """Soft delete, restore, hard delete or purge of a file."""
        facts = FactRepository(session)
        if change.change is Lifecycle.SOFT_DELETED:
            await facts.set_media_deleted(change.media_id, change.version, change.occurred_at)
        elif change.change is Lifecycle.RESTORED:
            await facts.set_media_deleted(change.media_id, change.version, None)
        else:
            await facts.set_media_purged(change.media_id, change.version, change.occurred_at)
        owner_id = change.owner_id or (await facts.media_owners([change.media_id])).get(change.media_id)
        _invalidate(session, [owner_id], Source.MEDIA)

    async def record_course(self, session: AsyncSession, state: CourseState) -> None:
        """A course was created or updated (title, owner)."""
        await FactRepository(session).upsert_course(state)
        _invalidate(session, [state.owner_id], Source.COURSE)

    async def record_course_lifecycle(self, session: AsyncSession, change: CourseLifecycleChange) -> None:
        """A course was deleted or restored."""
        facts = FactRepository(session)
        owner_id = change.owner_id or await facts.course_owner(change.course_id)
        await facts.set_course_deleted(
            change.course_id, owner_id or "", change.version, change.occurred_at if change.deleted else None
        )
        _invalidate(session, [owner_id], Source.COURSE)

    async def record_lesson_media(self, session: AsyncSession, change: LessonMediaChange) -> None:
        """A lesson's media was set or cleared."""
        facts = FactRepository(session)
        await facts.set_lesson_media(change.lesson_id, change.media_id)
        _invalidate(session, [await facts.course_owner(change.course_id)], Source.COURSE)

    async def remove_lessons(self, session: AsyncSession, removed: LessonsRemoved) -> None:
        """Lessons were removed (one, or those of a removed chapter)."""
        facts = FactRepository(session)
        await facts.remove_lessons(removed.lesson_ids)
        _invalidate(session, [await facts.course_owner(removed.course_id)], Source.COURSE)
