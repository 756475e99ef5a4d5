"""Every write to the fact tables, each an upsert that tolerates redelivery and reordering."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_analytics.facts.schemas import CourseState, LessonState, MediaFileState, MediaLinkChange
from lectern_analytics.models import CourseFact, LessonFact, MediaFileFact, MediaLinkFact

# The batched writes: Core statements built once, so each executemany reuses one compiled form
# (an ORM statement per row costs 150-300 us of SQLAlchemy each; see bench/analytics).
_FILES: Table = MediaFileFact.__table__  # type: ignore[assignment]
_LINKS: Table = MediaLinkFact.__table__  # type: ignore[assignment]
_LESSONS: Table = LessonFact.__table__  # type: ignore[assignment]
# A file's columns an upsert sets from its state (not created_at, set by the insert alone).
_MEDIA_FILE_STATE = (
    "owner_id",
    "title",
    "file_name",
    "mime_type",
    "size_bytes",
    "status",
    "duration_seconds",
    "version",
)

_file_insert = insert(_FILES)
_UPSERT_MEDIA_FILE = _file_insert.on_conflict_do_update(
    index_elements=[_FILES.c.media_id],
    set_={name: _file_insert.excluded[name] for name in _MEDIA_FILE_STATE},
    where=_FILES.c.version <= _file_insert.excluded.version,
)
_SET_USAGE_COUNT = (
    update(_FILES).where(_FILES.c.media_id == bindparam("b_media_id")).values(usage_count=bindparam("b_usage_count"))
)
_ADD_LINK = insert(_LINKS).on_conflict_do_nothing()
_REMOVE_LINK = delete(_LINKS).where(
    _LINKS.c.media_id == bindparam("b_media_id"),
    _LINKS.c.resource_type == bindparam("b_resource_type"),
    _LINKS.c.resource_id == bindparam("b_resource_id"),
)
_lesson_insert = insert(_LESSONS)
_UPSERT_LESSON = _lesson_insert.on_conflict_do_update(
    index_elements=[_LESSONS.c.lesson_id],
    set_={name: _lesson_insert.excluded[name] for name in ("course_id", "chapter_id", "title")},
)


class FactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- media ------------------------------------------------------------------------------

    async def upsert_media_files(self, files: Sequence[tuple[datetime, MediaFileState]]) -> None:
        """Insert each file (created at its time), or update it when its state is not older than
        the stored one. One statement, a parameter set per file; each file appears once."""
        if files:
            await self._session.execute(
                _UPSERT_MEDIA_FILE,
                [
                    {
                        "media_id": state.media_id,
                        "created_at": created_at,
                        **{name: getattr(state, name) for name in _MEDIA_FILE_STATE},
                    }
                    for created_at, state in files
                ],
            )

    async def media_owners(self, media_ids: Collection[str]) -> dict[str, str]:
        if not media_ids:
            return {}
        rows = await self._session.execute(
            select(MediaFileFact.media_id, MediaFileFact.owner_id).where(MediaFileFact.media_id.in_(sorted(media_ids)))
        )
        return {row.media_id: row.owner_id for row in rows}

    async def set_usage_counts(self, usage_counts: Mapping[str, int]) -> None:
        if usage_counts:
            await self._session.execute(
                _SET_USAGE_COUNT, [{"b_media_id": m, "b_usage_count": n} for m, n in usage_counts.items()]
            )

    async def add_links(self, changes: Sequence[MediaLinkChange]) -> None:
        """Store each link unless it is stored already (each link appears once)."""
        if changes:
            await self._session.execute(
                _ADD_LINK,
                [
                    {
                        "media_id": c.media_id,
                        "resource_type": c.resource_type,
                        "resource_id": c.resource_id,
                        "course_id": c.course_id,
                        "linked_at": c.occurred_at,
                    }
                    for c in changes
                ],
            )

    async def remove_links(self, keys: Sequence[tuple[str, str, str]]) -> None:
        """Delete each (media id, resource type, resource id) link."""
        if keys:
            await self._session.execute(
                _REMOVE_LINK, [{"b_media_id": m, "b_resource_type": t, "b_resource_id": r} for m, t, r in keys]
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

    async def course_owners(self, course_ids: Collection[str]) -> dict[str, str]:
        if not course_ids:
            return {}
        rows = await self._session.execute(
            select(CourseFact.course_id, CourseFact.owner_id).where(CourseFact.course_id.in_(sorted(course_ids)))
        )
        return {row.course_id: row.owner_id for row in rows}

    async def upsert_lessons(self, lessons: Sequence[tuple[LessonState, LessonState]]) -> None:
        """Each lesson as (its first state, its latest): inserted with the first's media and time,
        or its course, chapter and title set from the latest (each lesson appears once)."""
        if lessons:
            await self._session.execute(
                _UPSERT_LESSON,
                [
                    {
                        "lesson_id": first.lesson_id,
                        "media_id": first.media_id,
                        "added_at": first.occurred_at,
                        "course_id": latest.course_id,
                        "chapter_id": latest.chapter_id,
                        "title": latest.title,
                    }
                    for first, latest in lessons
                ],
            )

    async def set_lesson_media(self, lesson_id: str, media_id: str | None) -> None:
        await self._session.execute(
            update(LessonFact).where(LessonFact.lesson_id == lesson_id).values(media_id=media_id)
        )

    async def remove_lessons(self, lesson_ids: Sequence[str]) -> None:
        if lesson_ids:
            await self._session.execute(delete(LessonFact).where(LessonFact.lesson_id.in_(list(lesson_ids))))
