"""Courses: create, list, read the editor tree, update, soft delete and restore, publish,
co-instructors, and the access answers other services ask for.

Access is decided from the caller's identity (courses.access): the owner and editors may read and
edit; only the owner deletes, restores and adds editors; anyone else gets NOT_FOUND, exactly as if
the course did not exist. Deleting, restoring and publishing are courses.lifecycle's rules.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from lectern.events.v1 import event_types as types
from lectern_common.identity import Identity
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.courses.access import course_view, find_course, load_tree
from lectern_course.courses.edit_cache import EditTreeCache, EncodedCourseEdit
from lectern_course.courses.events import CourseEvents, PendingEvent, course_changed
from lectern_course.courses.lifecycle import CourseLifecycle
from lectern_course.courses.repository import CourseRepository
from lectern_course.courses.schemas import (
    CourseEditView,
    CoursePage,
    CoursePatch,
    CourseSummaryView,
    CourseView,
    ResolvedResource,
    ResourceRef,
    ResourceType,
    Role,
)
from lectern_course.errors import chapter_not_found, invalid_input, owner_only, version_conflict
from lectern_course.idempotent import IdempotentResults
from lectern_course.settings import CourseSettings


class _CreateRequest(BaseModel):
    title: str
    description: str


class _UpdateRequest(BaseModel):
    course_id: str
    expected_version: int
    patch: CoursePatch


class CourseService:
    def __init__(
        self, settings: CourseSettings, events: CourseEvents, results: IdempotentResults, trees: EditTreeCache
    ) -> None:
        self._settings = settings
        self._trees = trees
        self._events = events
        self._results = results
        self._lifecycle = CourseLifecycle(events, results)

    # -- checks -------------------------------------------------------------------------------

    def _title(self, value: str, field: str = "title") -> str:
        title = value.strip()
        if not title:
            raise invalid_input({field: "must not be empty"})
        if len(title) > self._settings.max_title_length:
            raise invalid_input({field: f"must be at most {self._settings.max_title_length} characters"})
        return title

    def _description(self, value: str, field: str = "description") -> str:
        if len(value) > self._settings.max_description_length:
            raise invalid_input({field: f"must be at most {self._settings.max_description_length} characters"})
        return value

    # -- courses ------------------------------------------------------------------------------

    async def create_course(
        self, session: AsyncSession, identity: Identity, *, title: str, description: str, idempotency_key: str = ""
    ) -> CourseView:
        """Create a course owned by the caller (version 1) and emit course.created."""
        request = _CreateRequest(title=title, description=description)
        replay = await self._results.replay(
            session, identity=identity, mutation="create", key=idempotency_key, request=request, result_type=CourseView
        )
        if replay is not None:
            return replay
        title = self._title(title)
        description = self._description(description)
        row = await CourseRepository(session).insert_course(
            course_id=str(uuid.uuid4()), owner_id=identity.user_id, title=title, description=description
        )
        course = course_view(row, Role.OWNER)
        await self._events.write_for(
            session, course, identity, [PendingEvent(types.COURSE_CREATED, course_changed(course))]
        )
        return await self._results.remember(
            session, identity=identity, mutation="create", key=idempotency_key, result=course
        )

    async def list_my_courses(
        self,
        session: AsyncSession,
        identity: Identity,
        *,
        include_deleted: bool,
        cursor: str,
        limit: int,
        published: bool | None = None,
    ) -> CoursePage:
        """Courses the caller owns or edits, newest first, a page at a time; ``published`` keeps
        only the published (True) or unpublished (False) ones."""
        limit = limit or self._settings.list_default_limit
        if limit < 1 or limit > self._settings.list_max_limit:
            raise invalid_input({"limit": f"must be between 1 and {self._settings.list_max_limit}"})
        after = _decode_cursor(cursor) if cursor else None
        rows = await CourseRepository(session).list_for_user(
            identity.user_id, include_deleted=include_deleted, after=after, limit=limit + 1, published=published
        )
        items = [
            CourseSummaryView(
                course=course_view(row, Role.OWNER if row.owner_id == identity.user_id else Role.EDITOR),
                chapter_count=row.chapter_count,
                lesson_count=row.lesson_count,
            )
            for row in rows[:limit]
        ]
        next_cursor = _encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else ""
        return CoursePage(items=items, next_cursor=next_cursor)

    async def get_course_edit(
        self, session: AsyncSession, identity: Identity, course_id: str, *, include_deleted: bool = False
    ) -> CourseEditView:
        """The whole editor tree with each lesson's media summary, in two statements (no cache)."""
        repo = CourseRepository(session)
        row, role = await find_course(repo, identity, course_id, include_deleted=include_deleted)
        return await load_tree(repo, course_view(row, role))

    async def get_encoded_course_edit(
        self, session: AsyncSession, identity: Identity, course_id: str, *, include_deleted: bool = False
    ) -> EncodedCourseEdit:
        """The editor tree as get_course_edit answers it, its chapters encoded for the wire: from
        the cache when the course's version and the media stamp are still the cached tree's (one
        statement), else loaded (one more) and cached."""
        repo = CourseRepository(session)
        row, role = await find_course(repo, identity, course_id, include_deleted=include_deleted)
        course = course_view(row, role)
        key = (row.version, row.media_stamp)
        chapters = self._trees.get(course.id, key)
        if chapters is None:
            chapters = self._trees.put(course.id, key, (await load_tree(repo, course)).chapters)
        return EncodedCourseEdit(course=course, chapters=chapters)

    async def update_course(
        self,
        session: AsyncSession,
        identity: Identity,
        *,
        course_id: str,
        expected_version: int,
        patch: CoursePatch,
        idempotency_key: str = "",
    ) -> CourseView:
        """Change title/description if the course is still at ``expected_version``; else CONFLICT."""
        request = _UpdateRequest(course_id=course_id, expected_version=expected_version, patch=patch)
        replay = await self._results.replay(
            session, identity=identity, mutation="update", key=idempotency_key, request=request, result_type=CourseView
        )
        if replay is not None:
            return replay
        values: dict[str, str] = {}
        if patch.title is not None:
            values["title"] = self._title(patch.title, "patch.title")
        if patch.description is not None:
            values["description"] = self._description(patch.description, "patch.description")
        repo = CourseRepository(session)
        row, role = await find_course(repo, identity, course_id, for_update=True)
        if row.version != expected_version:
            current = course_view(row, role)
            raise version_conflict(row.version, current.to_api())
        course = course_view(await repo.update_course(course_id, **values), role)
        await self._events.write_for(
            session, course, identity, [PendingEvent(types.COURSE_UPDATED, course_changed(course))]
        )
        return await self._results.remember(
            session, identity=identity, mutation="update", key=idempotency_key, result=course
        )

    async def delete_course(
        self,
        session: AsyncSession,
        identity: Identity,
        *,
        course_id: str,
        idempotency_key: str = "",
        force: bool = False,
    ) -> CourseView:
        """Soft delete (owner only): the course, its chapters and lessons leave every read.

        A published course is refused (CONFLICT ``course.published``) unless ``force``, which
        unpublishes it in the same change (course.unpublished, then course.deleted): learners lose
        it either way, and a later restore must not put it back in front of them unasked.
        """
        return await self._lifecycle.set_deleted(
            session, identity, course_id, idempotency_key, deleted=True, force=force
        )

    async def restore_course(
        self, session: AsyncSession, identity: Identity, *, course_id: str, idempotency_key: str = ""
    ) -> CourseView:
        """Undo a soft delete (owner only). Chapters deleted on their own before stay deleted."""
        return await self._lifecycle.set_deleted(session, identity, course_id, idempotency_key, deleted=False)

    async def publish_course(
        self,
        session: AsyncSession,
        identity: Identity,
        *,
        course_id: str,
        expected_version: int,
        idempotency_key: str = "",
    ) -> CourseView:
        """Publish (owner or editor) a course still at ``expected_version``; else CONFLICT.

        Refused (CONFLICT ``course.media_not_ready``, the lessons in ``details.lessons``) while any
        live lesson holds media that is not ``ready`` as course's media read model knows it: still
        processing, failed, deleted, or not heard of yet. Publishing a published course answers it
        unchanged, whatever the version, so a retried publish never conflicts with itself.
        """
        return await self._lifecycle.set_published(
            session, identity, course_id, expected_version, idempotency_key, published=True
        )

    async def unpublish_course(
        self,
        session: AsyncSession,
        identity: Identity,
        *,
        course_id: str,
        expected_version: int,
        idempotency_key: str = "",
    ) -> CourseView:
        """Take a course out of publication (owner or editor) at ``expected_version``; an
        unpublished course answers unchanged."""
        return await self._lifecycle.set_published(
            session, identity, course_id, expected_version, idempotency_key, published=False
        )

    async def add_editor(
        self, session: AsyncSession, identity: Identity, *, course_id: str, user_id: str
    ) -> CourseView:
        """Make ``user_id`` a co-instructor (owner only); adding one twice changes nothing."""
        if not user_id.strip():
            raise invalid_input({"userId": "must not be empty"})
        repo = CourseRepository(session)
        row, role = await find_course(repo, identity, course_id, for_update=True)
        if role is not Role.OWNER:
            raise owner_only("add editors")
        if user_id == row.owner_id:
            raise invalid_input({"userId": "is the owner of the course"})
        await repo.add_editor(course_id, user_id)
        return course_view(row, role)

    # -- questions from other services ----------------------------------------------------------

    async def check_access(
        self, session: AsyncSession, identity: Identity, *, course_id: str, chapter_id: str | None
    ) -> CourseView:
        """The course if the caller may edit it (and the chapter, when named, is live in it)."""
        repo = CourseRepository(session)
        row, role = await find_course(repo, identity, course_id)
        if chapter_id and await repo.find_live_chapter(course_id, chapter_id) is None:
            raise chapter_not_found(chapter_id)
        return course_view(row, role)

    async def resolve_resources(
        self, session: AsyncSession, identity: Identity, refs: list[ResourceRef]
    ) -> list[ResolvedResource]:
        """For each ref: whether it exists live, its course, and whether the caller may edit it.

        Unknown, deleted and foreign ids all answer exists=false with nothing else filled in, so
        media learns no more than the caller could. A service identity may resolve any id.
        """
        repo = CourseRepository(session)
        rows: dict[tuple[ResourceType, str], Any] = {}
        loaders = {
            ResourceType.COURSE: repo.resolve_courses,
            ResourceType.CHAPTER: repo.resolve_chapters,
            ResourceType.LESSON: repo.resolve_lessons,
        }
        for resource_type, load in loaders.items():
            ids = {ref.id for ref in refs if ref.type is resource_type and ref.id}
            if ids:
                for row in await load(ids, identity.user_id):
                    rows[(resource_type, row.resource_id)] = row
        answers = []
        for ref in refs:
            found = rows.get((ref.type, ref.id)) if ref.type is not None else None
            if (
                found is None
                or not (identity.is_service or found.owner_id == identity.user_id or found.is_editor)
                or found.course_deleted_at is not None
                or found.resource_deleted_at is not None
            ):
                answers.append(ResolvedResource(ref=ref, exists=False))
                continue
            answers.append(
                ResolvedResource(
                    ref=ref,
                    exists=True,
                    course_id=found.course_id,
                    can_edit=True,
                    course_published=found.published,
                    course_title=found.course_title,
                )
            )
        return answers


def _encode_cursor(created_at: datetime, course_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at.isoformat(), course_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, course_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created_at), str(course_id)
    except (ValueError, TypeError) as exc:
        raise invalid_input({"cursor": "is not a cursor this service gave out"}) from exc
