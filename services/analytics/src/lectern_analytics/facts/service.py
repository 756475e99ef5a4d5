"""Folding other services' events into the fact tables, and invalidating the cached domains that
read those facts (after the commit, see dashboards.cache).

Every method is safe to run twice (the consumer also deduplicates by event id) and tolerates the
orders Kafka allows: one aggregate's events arrive in order, different aggregates' in any order.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lectern_analytics.dashboards.cache import invalidate_after_commit
from lectern_analytics.dashboards.domains import Source, domains_reading
from lectern_analytics.facts.repository import FactRepository
from lectern_analytics.facts.schemas import (
    CourseLifecycleChange,
    CourseState,
    LessonMediaChange,
    LessonState,
    Lifecycle,
    MediaFileState,
    MediaLifecycleChange,
    MediaLinkChange,
)


class FactService:
    @staticmethod
    def _invalidate(session: AsyncSession, owner_id: str | None, source: Source) -> None:
        if owner_id:
            invalidate_after_commit(session, owner_id, domains_reading(source))

    async def record_media_file(self, session: AsyncSession, state: MediaFileState) -> None:
        """A file was registered, became ready or failed, or was renamed: keep its latest state."""
        await FactRepository(session).upsert_media_file(state)
        self._invalidate(session, state.owner_id, Source.MEDIA)

    async def record_media_link(self, session: AsyncSession, change: MediaLinkChange) -> None:
        """A link was added or removed: keep the link set and the file's usage count."""
        facts = FactRepository(session)
        if change.added:
            await facts.add_link(change)
        else:
            await facts.remove_link(change)
        await facts.set_usage_count(change.media_id, change.usage_count)
        self._invalidate(session, change.owner_id or await facts.media_owner(change.media_id), Source.MEDIA)

    async def record_media_lifecycle(self, session: AsyncSession, change: MediaLifecycleChange) -> None:
        """Soft delete, restore, hard delete or purge of a file."""
        facts = FactRepository(session)
        if change.change is Lifecycle.SOFT_DELETED:
            await facts.set_media_deleted(change.media_id, change.version, change.occurred_at)
        elif change.change is Lifecycle.RESTORED:
            await facts.set_media_deleted(change.media_id, change.version, None)
        else:
            await facts.set_media_purged(change.media_id, change.version, change.occurred_at)
        self._invalidate(session, change.owner_id or await facts.media_owner(change.media_id), Source.MEDIA)

    async def record_course(self, session: AsyncSession, state: CourseState) -> None:
        """A course was created or updated (title, owner)."""
        await FactRepository(session).upsert_course(state)
        self._invalidate(session, state.owner_id, Source.COURSE)

    async def record_course_lifecycle(self, session: AsyncSession, change: CourseLifecycleChange) -> None:
        """A course was deleted or restored."""
        facts = FactRepository(session)
        owner_id = change.owner_id or await facts.course_owner(change.course_id)
        await facts.set_course_deleted(
            change.course_id, owner_id or "", change.version, change.occurred_at if change.deleted else None
        )
        self._invalidate(session, owner_id, Source.COURSE)

    async def record_lesson(self, session: AsyncSession, state: LessonState) -> None:
        """A lesson was added (or renamed or moved): keep it and the media it holds."""
        facts = FactRepository(session)
        await facts.upsert_lesson(state)
        self._invalidate(session, state.owner_id or await facts.course_owner(state.course_id), Source.COURSE)

    async def record_lesson_media(self, session: AsyncSession, change: LessonMediaChange) -> None:
        """A lesson's media was set or cleared."""
        facts = FactRepository(session)
        await facts.set_lesson_media(change.lesson_id, change.media_id)
        self._invalidate(session, await facts.course_owner(change.course_id), Source.COURSE)

    async def remove_lessons(self, session: AsyncSession, course_id: str, lesson_ids: list[str]) -> None:
        """Lessons were removed (one, or those of a removed chapter)."""
        facts = FactRepository(session)
        await facts.remove_lessons(lesson_ids)
        self._invalidate(session, await facts.course_owner(course_id), Source.COURSE)
