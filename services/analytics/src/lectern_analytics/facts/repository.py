"""Every write to the fact tables, each an upsert that tolerates redelivery and reordering."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_analytics.facts.schemas import CourseState, LessonState, MediaFileState, MediaLinkChange
from lectern_analytics.models import CourseFact, LessonFact, MediaFileFact, MediaLinkFact


class FactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- media ------------------------------------------------------------------------------

    async def upsert_media_file(self, state: MediaFileState) -> None:
        """Insert the file, or update it when this state is not older than the stored one."""
        values = {
            "owner_id": state.owner_id,
            "title": state.title,
            "file_name": state.file_name,
            "mime_type": state.mime_type,
            "size_bytes": state.size_bytes,
            "status": state.status,
            "duration_seconds": state.duration_seconds,
            "version": state.version,
        }
        statement = insert(MediaFileFact).values(media_id=state.media_id, created_at=state.occurred_at, **values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[MediaFileFact.media_id],
                set_=values,
                where=MediaFileFact.version <= state.version,
            )
        )

    async def media_owner(self, media_id: str) -> str | None:
        return (
            await self._session.execute(select(MediaFileFact.owner_id).where(MediaFileFact.media_id == media_id))
        ).scalar_one_or_none()

    async def set_usage_count(self, media_id: str, usage_count: int) -> None:
        await self._session.execute(
            update(MediaFileFact).where(MediaFileFact.media_id == media_id).values(usage_count=usage_count)
        )

    async def add_link(self, change: MediaLinkChange) -> None:
        await self._session.execute(
            insert(MediaLinkFact)
            .values(
                media_id=change.media_id,
                resource_type=change.resource_type,
                resource_id=change.resource_id,
                course_id=change.course_id,
                linked_at=change.occurred_at,
            )
            .on_conflict_do_nothing()
        )

    async def remove_link(self, change: MediaLinkChange) -> None:
        await self._session.execute(
            delete(MediaLinkFact).where(
                MediaLinkFact.media_id == change.media_id,
                MediaLinkFact.resource_type == change.resource_type,
                MediaLinkFact.resource_id == change.resource_id,
            )
        )

    async def set_media_deleted(self, media_id: str, version: int, deleted_at: datetime | None) -> None:
        """Soft delete (a time) or restore (None), unless a newer version of the file is known."""
        await self._session.execute(
            update(MediaFileFact)
            .where(MediaFileFact.media_id == media_id, MediaFileFact.version <= version)
            .values(deleted_at=deleted_at, version=version)
        )

    async def set_media_purged(self, media_id: str, version: int, purged_at: datetime) -> None:
        """Hard delete or purge: the bytes are gone; the row stays for growth history."""
        await self._session.execute(
            update(MediaFileFact)
            .where(MediaFileFact.media_id == media_id, MediaFileFact.version <= version)
            .values(purged_at=purged_at, usage_count=0, version=version)
        )

    # -- courses and lessons ----------------------------------------------------------------

    async def upsert_course(self, state: CourseState) -> None:
        values = {"owner_id": state.owner_id, "title": state.title, "version": state.version}
        await self._session.execute(
            insert(CourseFact)
            .values(course_id=state.course_id, created_at=state.occurred_at, **values)
            .on_conflict_do_update(
                index_elements=[CourseFact.course_id], set_=values, where=CourseFact.version <= state.version
            )
        )

    async def set_course_deleted(
        self, course_id: str, owner_id: str, version: int, deleted_at: datetime | None
    ) -> None:
        """Mark a course deleted or restored; a course first seen here is created as a stub."""
        await self._session.execute(
            insert(CourseFact)
            .values(course_id=course_id, owner_id=owner_id, version=version, deleted_at=deleted_at)
            .on_conflict_do_update(
                index_elements=[CourseFact.course_id],
                set_={"deleted_at": deleted_at, "version": version},
                where=CourseFact.version <= version,
            )
        )

    async def course_owner(self, course_id: str) -> str | None:
        return (
            await self._session.execute(select(CourseFact.owner_id).where(CourseFact.course_id == course_id))
        ).scalar_one_or_none()

    async def upsert_lesson(self, state: LessonState) -> None:
        values = {"course_id": state.course_id, "chapter_id": state.chapter_id, "title": state.title}
        await self._session.execute(
            insert(LessonFact)
            .values(lesson_id=state.lesson_id, media_id=state.media_id, added_at=state.occurred_at, **values)
            .on_conflict_do_update(index_elements=[LessonFact.lesson_id], set_=values)
        )

    async def set_lesson_media(self, lesson_id: str, media_id: str | None) -> None:
        await self._session.execute(
            update(LessonFact).where(LessonFact.lesson_id == lesson_id).values(media_id=media_id)
        )

    async def remove_lessons(self, lesson_ids: Sequence[str]) -> None:
        if lesson_ids:
            await self._session.execute(delete(LessonFact).where(LessonFact.lesson_id.in_(list(lesson_ids))))
