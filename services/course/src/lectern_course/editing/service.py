"""Saving an editor's changes: a list of operations applied in one transaction or not at all, and
the lesson a finished upload adds to the chapter it named.

Concurrency: the course row is locked (SELECT ... FOR UPDATE) before its version is compared, so of
two saves from the same version exactly one wins; the other waits for the lock, sees the new
version and answers CONFLICT with the current tree. Nothing is written until every operation has
been checked, and the edge rolls the transaction back on any error.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from lectern.events.v1 import course_events_pb2 as ev
from lectern.events.v1 import event_types as types
from lectern_common.identity import Identity
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.courses.access import course_view, find_course, load_tree
from lectern_course.courses.edit_cache import EditTreeCache
from lectern_course.courses.events import CourseEvents, PendingEvent, course_changed
from lectern_course.courses.repository import CourseRepository
from lectern_course.courses.schemas import CourseEditView, CourseView, MediaSummaryView, Role
from lectern_course.editing.outline import MediaFacts, Outline
from lectern_course.editing.repository import write_changes
from lectern_course.editing.schemas import Operation, SaveRequest, SaveResult
from lectern_course.errors import invalid_input, version_conflict
from lectern_course.idempotent import IdempotentResults
from lectern_course.media_summaries.repository import MediaSummaryRepository
from lectern_course.media_summaries.service import MediaFileFacts
from lectern_course.settings import CourseSettings

log = logging.getLogger(__name__)

# Where a save leaves its tree (and the tree's cache key) in the session for cache_saved_tree.
_SAVED_TREE = "lectern_course.saved_tree"


class EditingService:
    def __init__(
        self, settings: CourseSettings, events: CourseEvents, results: IdempotentResults, trees: EditTreeCache
    ) -> None:
        self._settings = settings
        self._events = events
        self._results = results
        self._trees = trees

    def cache_saved_tree(self, session: AsyncSession, result: SaveResult) -> bytes | None:
        """Once ``session`` has committed: cache the tree its save left and answer its encoding
        (None for a save that kept nothing to cache, e.g. a replay, when the cache may still hold
        the tree of ``result``'s version).

        Only the caller knows the transaction committed (the edge commits), and only a committed
        tree may be cached: a version rolled back is given to the next save, whose tree differs.
        """
        saved = session.info.pop(_SAVED_TREE, None)
        course = result.course.course
        if saved is None:
            return self._trees.at_version(course.id, course.version)
        key, chapters = saved
        return self._trees.put(course.id, key, chapters)

    async def save_changes(
        self,
        session: AsyncSession,
        identity: Identity,
        *,
        course_id: str,
        expected_version: int,
        operations: list[Operation],
        idempotency_key: str = "",
    ) -> SaveResult:
        """Apply ``operations`` to the course at ``expected_version``, all or none.

        Answers the new tree and the ids given to temp ids. A stale version is CONFLICT with
        ``currentVersion`` and ``current`` (the tree now); an invalid operation is
        VALIDATION_FAILED naming ``operations.<i>.<field>`` and ``operationIndex``.
        """
        request = SaveRequest(course_id=course_id, expected_version=expected_version, operations=operations)
        replay = await self._results.replay(
            session, identity=identity, mutation="save", key=idempotency_key, request=request, result_type=SaveResult
        )
        if replay is not None:
            return replay
        if len(operations) > self._settings.max_operations_per_save:
            raise invalid_input({"operations": f"at most {self._settings.max_operations_per_save} operations per save"})

        repo = CourseRepository(session)
        row, role = await find_course(repo, identity, course_id, for_update=True)
        if row.version != expected_version:
            current = await load_tree(repo, course_view(row, role))
            raise version_conflict(row.version, current.to_api())

        outline = Outline.from_rows(
            course_id,
            row.owner_id,
            await repo.load_outline(course_id, include_deleted_chapters=True),
            max_title_length=self._settings.max_title_length,
            max_description_length=self._settings.max_description_length,
        )
        media = await self._media_facts(session, outline.media_ids_named(operations))
        outline.apply_all(operations, media, identity.user_id)
        # An empty save changes nothing: no new version, no event.
        course = await self._write(session, outline, role, identity) if operations else course_view(row, role)
        chapters = outline.views()
        session.info[_SAVED_TREE] = ((course.version, row.media_stamp), chapters)
        result = SaveResult(course=CourseEditView(course=course, chapters=chapters), id_map=outline.id_map)
        return await self._results.remember(
            session, identity=identity, mutation="save", key=idempotency_key, result=result
        )

    async def _write(self, session: AsyncSession, outline: Outline, role: Role, identity: Identity) -> CourseView:
        """Write the outline's changes back (one statement) and the save's events; the course gets
        its next version."""
        changes = outline.changes(datetime.now(UTC))
        course = course_view(await write_changes(session, outline.course_id, changes), role)
        events = list(changes.events)
        if changes.course_values:
            events.append(PendingEvent(types.COURSE_UPDATED, course_changed(course)))
        await self._events.write_for(session, course, identity, events)
        return course

    async def _media_facts(self, session: AsyncSession, media_ids: set[str]) -> dict[str, MediaFacts]:
        rows = await MediaSummaryRepository(session).find(media_ids)
        return {
            row.media_id: MediaFacts(
                summary=MediaSummaryView(
                    id=row.media_id,
                    file_name=row.file_name,
                    status=row.status,
                    duration_seconds=row.duration_seconds,
                    size_bytes=row.size_bytes,
                ),
                owner_id=row.owner_id,
                gone=row.gone,
            )
            for row in rows
        }

    async def add_uploaded_lesson(self, session: AsyncSession, media: MediaFileFacts, actor_id: str) -> str | None:
        """Add the lesson holding a finished upload's media to the chapter the upload named.

        Idempotent by upload operation id: a redelivery or a replay of the event adds nothing.
        Answers the lesson id, or None when there is nothing (more) to do: no target, already
        added, or the target course/chapter is gone or no longer editable by the uploader.
        """
        if not (media.upload_operation_id and media.course_id and media.chapter_id):
            return None
        repo = CourseRepository(session)
        course = await _upload_target(repo, media, media.course_id, media.chapter_id, media.upload_operation_id)
        if course is None:
            return None
        title = (media.lesson_title or media.file_name or "Untitled lesson").strip()[: self._settings.max_title_length]
        title = title or "Untitled lesson"
        position = await repo.count_live_lessons(media.chapter_id)
        lesson_id = str(uuid.uuid4())
        await repo.insert_lessons(
            [
                {
                    "id": lesson_id,
                    "course_id": media.course_id,
                    "chapter_id": media.chapter_id,
                    "title": title,
                    "position": position,
                    "media_id": media.media_id,
                    "upload_operation_id": media.upload_operation_id,
                    "deleted_at": None,
                }
            ]
        )
        version = (await repo.update_course(media.course_id)).version
        payload = ev.LessonChanged(
            course_id=media.course_id,
            chapter_id=media.chapter_id,
            lesson_id=lesson_id,
            title=title,
            position=position,
            media_id=media.media_id,
            upload_operation_id=media.upload_operation_id,
            owner_id=course.owner_id,
        )
        await self._events.write(
            session,
            course_id=media.course_id,
            version=version,
            actor_id=actor_id,
            events=[PendingEvent(types.COURSE_LESSON_ADDED, payload)],
        )
        return lesson_id


async def _upload_target(
    repo: CourseRepository, media: MediaFileFacts, course_id: str, chapter_id: str, operation_id: str
) -> Any | None:
    """The (locked) course row an upload's lesson goes into, or None when it adds nothing: its lesson
    exists already, or the course or chapter is gone or no longer editable by the uploader."""
    row = await repo.find_with_editor(course_id, media.owner_id, for_update=True)
    if await repo.find_lesson_by_upload_operation(operation_id) is not None:
        return None
    if row is None or row.deleted_at is not None:
        log.info("upload %s: course %s is gone; no lesson added", operation_id, course_id)
        return None
    may_edit = row.owner_id == media.owner_id or bool(row.editor_id)
    if not may_edit or await repo.find_live_chapter(course_id, chapter_id) is None:
        log.info(
            "upload %s: chapter %s is gone or not editable by %s; no lesson added",
            operation_id,
            chapter_id,
            media.owner_id,
        )
        return None
    return row
