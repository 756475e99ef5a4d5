"""A course's lifecycle: soft delete and restore, publish and unpublish (CourseService's doors to
them hold the public contract). Each change is idempotent by key and emits its events with the
version it produced."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lectern.events.v1 import course_events_pb2 as ev
from lectern.events.v1 import event_types as types
from lectern_common.identity import Identity
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.courses.access import course_view, find_course
from lectern_course.courses.events import CourseEvents, PendingEvent
from lectern_course.courses.repository import CourseRepository
from lectern_course.courses.schemas import CourseView, Role, UnreadyLesson
from lectern_course.errors import course_published, media_not_ready, owner_only, version_conflict
from lectern_course.idempotent import IdempotentResults


class _CourseRequest(BaseModel):
    course_id: str


class _DeleteRequest(BaseModel):
    course_id: str
    force: bool


class _PublishRequest(BaseModel):
    course_id: str
    expected_version: int


class CourseLifecycle:
    def __init__(self, events: CourseEvents, results: IdempotentResults) -> None:
        self._events = events
        self._results = results

    async def set_deleted(
        self, session: AsyncSession, identity: Identity, course_id: str, key: str, *, deleted: bool, force: bool = False
    ) -> CourseView:
        """Soft delete (``deleted``) or restore a course, owner only; a course already where the caller
        wants it answers unchanged. Deleting a published course needs ``force`` and unpublishes it."""
        mutation = "delete" if deleted else "restore"
        request: BaseModel = (
            _DeleteRequest(course_id=course_id, force=force) if deleted else _CourseRequest(course_id=course_id)
        )
        replay = await self._results.replay(
            session, identity=identity, mutation=mutation, key=key, request=request, result_type=CourseView
        )
        if replay is not None:
            return replay
        repo = CourseRepository(session)
        row, role = await find_course(repo, identity, course_id, for_update=True, include_deleted=True)
        if role is not Role.OWNER:
            raise owner_only(f"{mutation} a course")
        if (row.deleted_at is not None) == deleted:
            # Already where the caller wants it: answer the course, change nothing.
            return course_view(row, role)
        pending: list[PendingEvent] = []
        values: dict[str, Any] = {"deleted_at": datetime.now(UTC) if deleted else None}
        if deleted and row.published:
            if not force:
                raise course_published(course_id, row.version)
            values.update(published=False, published_at=None)
            pending.append(
                PendingEvent(
                    types.COURSE_UNPUBLISHED,
                    ev.CoursePublicationChanged(
                        course_id=row.id, owner_id=row.owner_id, published=False, version=row.version + 1
                    ),
                )
            )
        course = course_view(await repo.update_course(course_id, **values), role)
        # Chapters and lessons keep their own deleted_at; the live ones are those that go or come back.
        chapter_ids = [r.id for r in await repo.load_chapters(course_id)]
        lesson_ids = [r.id for r in await repo.load_lessons_with_media(course_id)]
        payload = ev.CourseLifecycleChanged(
            course_id=course.id,
            owner_id=course.owner_id,
            chapter_ids=chapter_ids,
            lesson_ids=lesson_ids,
            version=course.version,
        )
        event_type = types.COURSE_DELETED if deleted else types.COURSE_RESTORED
        await self._events.write_for(session, course, identity, [*pending, PendingEvent(event_type, payload)])
        return await self._results.remember(session, identity=identity, mutation=mutation, key=key, result=course)

    async def set_published(
        self,
        session: AsyncSession,
        identity: Identity,
        course_id: str,
        expected_version: int,
        key: str,
        *,
        published: bool,
    ) -> CourseView:
        """Publish or unpublish a course at ``expected_version`` (owner or editor); a course already
        in that state answers unchanged. Publishing is refused while a lesson's media is not ready."""
        mutation = "publish" if published else "unpublish"
        replay = await self._results.replay(
            session,
            identity=identity,
            mutation=mutation,
            key=key,
            request=_PublishRequest(course_id=course_id, expected_version=expected_version),
            result_type=CourseView,
        )
        if replay is not None:
            return replay
        repo = CourseRepository(session)
        row, role = await find_course(repo, identity, course_id, for_update=True)
        if row.published == published:
            return course_view(row, role)
        if row.version != expected_version:
            raise version_conflict(row.version, course_view(row, role).to_api())
        if published:
            unready = [lesson.to_api() for lesson in _unready_lessons(await repo.load_lessons_with_media(course_id))]
            if unready:
                raise media_not_ready(row.version, unready)
        course = course_view(
            await repo.update_course(
                course_id, published=published, published_at=datetime.now(UTC) if published else None
            ),
            role,
        )
        payload = ev.CoursePublicationChanged(
            course_id=course.id, owner_id=course.owner_id, published=published, version=course.version
        )
        if course.published_at is not None:
            payload.published_at.FromDatetime(course.published_at)
        event_type = types.COURSE_PUBLISHED if published else types.COURSE_UNPUBLISHED
        await self._events.write_for(session, course, identity, [PendingEvent(event_type, payload)])
        return await self._results.remember(session, identity=identity, mutation=mutation, key=key, result=course)


def _unready_lessons(rows: Any) -> list[UnreadyLesson]:
    """Live lessons holding media that is not ready (rows of ``load_lessons_with_media``)."""
    unready = []
    for row in rows:
        if row.media_id is None:
            continue
        if row.ms_id is None:
            status = "unknown"
        elif row.ms_gone:
            status = "deleted"
        else:
            status = row.ms_status
        if status != "ready":
            unready.append(
                UnreadyLesson(
                    lesson_id=row.id, title=row.title, chapter_id=row.chapter_id, media_id=row.media_id, status=status
                )
            )
    return unready
