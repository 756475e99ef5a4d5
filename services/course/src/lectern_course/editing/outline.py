"""A course's chapters and lessons in memory, where a save's operations are applied and checked.

The outline is loaded whole (the locked course, then its chapters and lessons in one statement),
every operation is applied to it in order with positions that are 0-based indexes *after the
operations before it*, and only then are the differences written back, one bulk statement per
kind of change. So a failing 37th operation raises before anything was written, and the
transaction holds nothing to undo but the row lock.
No I/O happens here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from lectern.events.v1 import course_events_pb2 as ev
from lectern.events.v1 import event_types as types

from lectern_course.courses.events import PendingEvent
from lectern_course.courses.schemas import ChapterView, CoursePatch, MediaSummaryView, chapter_views
from lectern_course.editing import schemas as ops
from lectern_course.editing.changes import Changes, changes_of
from lectern_course.editing.tree import ChapterNode, LessonNode, MediaFacts, media_view
from lectern_course.errors import invalid_operation


class Outline:
    """The live chapters (in order) and lessons of one course, changed by operations."""

    def __init__(
        self,
        course_id: str,
        owner_id: str,
        chapters: list[ChapterNode],
        *,
        deleted_chapter_ids: set[str] | None = None,
        max_title_length: int = 200,
        max_description_length: int = 5000,
    ) -> None:
        self.course_id = course_id
        self.owner_id = owner_id
        self.chapters = chapters
        self._chapters = {c.id: c for c in chapters}
        self._lessons = {lesson.id: lesson for c in chapters for lesson in c.lessons}
        self.removed_chapters: list[ChapterNode] = []
        self.removed_lessons: list[LessonNode] = []
        self._deleted_chapter_ids = set(deleted_chapter_ids or ())
        self._temp_ids: dict[str, str] = {}
        self._max_title = max_title_length
        self._max_description = max_description_length
        self.course_patch: dict[str, str] = {}
        self.events: list[PendingEvent] = []

    @classmethod
    def from_rows(cls, course_id: str, owner_id: str, rows: Sequence[Any], **limits: int) -> Outline:
        """Build from the repository's outline rows (every chapter, deleted ones too so errors can
        name them, each followed by its live lessons)."""
        chapters: list[ChapterNode] = []
        deleted: set[str] = set()
        node: ChapterNode | None = None
        # Unpacked by position (the repository's column order): a Row's attribute lookup costs
        # ~0.5 us, and the ones a lesson took were most of loading a 50x20 outline.
        for row in rows:
            (
                chapter_id,
                chapter_title,
                chapter_position,
                deleted_at,
                lesson_id,
                title,
                position,
                media_id,
                summary_id,
            ) = row[:9]
            if deleted_at is not None:
                deleted.add(chapter_id)
                continue
            if node is None or node.id != chapter_id:
                node = ChapterNode(
                    id=chapter_id, title=chapter_title, loaded_title=chapter_title, loaded_position=chapter_position
                )
                chapters.append(node)
            if lesson_id is None:
                continue
            node.lessons.append(
                LessonNode(
                    id=lesson_id,
                    chapter_id=chapter_id,
                    title=title,
                    media_id=media_id,
                    media=None if summary_id is None else media_view(row),
                    loaded_chapter_id=chapter_id,
                    loaded_position=position,
                    loaded_title=title,
                    loaded_media_id=media_id,
                )
            )
        return cls(course_id, owner_id, chapters, deleted_chapter_ids=deleted, **limits)

    # -- reading ------------------------------------------------------------------------------

    @property
    def id_map(self) -> dict[str, str]:
        return dict(self._temp_ids)

    def views(self) -> list[ChapterView]:
        return chapter_views(
            [
                {
                    "id": chapter.id,
                    "title": chapter.title,
                    "position": cpos,
                    "lessons": [
                        {
                            "id": lesson.id,
                            "title": lesson.title,
                            "position": lpos,
                            "media_id": lesson.media_id,
                            "media": lesson.media,
                        }
                        for lpos, lesson in enumerate(chapter.lessons)
                    ],
                }
                for cpos, chapter in enumerate(self.chapters)
            ]
        )

    def media_ids_named(self, operations: list[ops.Operation]) -> set[str]:
        return {op.media_id for op in operations if isinstance(op, ops.AddLesson | ops.SetLessonMedia) and op.media_id}

    # -- applying -----------------------------------------------------------------------------

    def apply_all(self, operations: list[ops.Operation], media: dict[str, MediaFacts], actor_id: str) -> None:
        """Apply every operation in order; the first invalid one raises with its index."""
        for index, operation in enumerate(operations):
            self._apply(index, operation, media, actor_id)

    def _apply(self, i: int, op: ops.Operation, media: dict[str, MediaFacts], actor_id: str) -> None:
        apply = _APPLY.get(type(op))
        if apply is None:
            raise invalid_operation(i, "op", "unknown operation")
        apply(self, i, op, media, actor_id)

    # -- one method per operation (each as _APPLY calls it) ----------------------------------

    def _add_chapter(self, i: int, op: ops.AddChapter, media: dict[str, MediaFacts], actor_id: str) -> None:
        title = self._title(i, "title", op.title)
        position = self._position(i, op.position, len(self.chapters), default=len(self.chapters))
        chapter = ChapterNode(id=self._new_id(i, op.temp_id), title=title, is_new=True)
        self.chapters.insert(position, chapter)
        self._chapters[chapter.id] = chapter
        self._chapter_event(types.COURSE_CHAPTER_ADDED, chapter)

    def _rename_chapter(self, i: int, op: ops.RenameChapter, media: dict[str, MediaFacts], actor_id: str) -> None:
        chapter = self._chapter(i, "chapterId", op.chapter_id)
        chapter.title = self._title(i, "title", op.title)
        self._chapter_event(types.COURSE_CHAPTER_RENAMED, chapter)

    def _move_chapter(self, i: int, op: ops.MoveChapter, media: dict[str, MediaFacts], actor_id: str) -> None:
        chapter = self._chapter(i, "chapterId", op.chapter_id)
        position = self._position(i, op.position, len(self.chapters) - 1)
        self.chapters.remove(chapter)
        self.chapters.insert(position, chapter)
        self._chapter_event(types.COURSE_CHAPTER_MOVED, chapter)

    def _delete_chapter(self, i: int, op: ops.DeleteChapter, media: dict[str, MediaFacts], actor_id: str) -> None:
        chapter = self._chapter(i, "chapterId", op.chapter_id)
        self.chapters.remove(chapter)
        del self._chapters[chapter.id]
        self._deleted_chapter_ids.add(chapter.id)
        chapter.deleted = True
        self.removed_chapters.append(chapter)
        for lesson in chapter.lessons:
            lesson.deleted = True
            del self._lessons[lesson.id]
            self.removed_lessons.append(lesson)
        payload = ev.ChapterRemoved(
            course_id=self.course_id, chapter_id=chapter.id, lesson_ids=[lesson.id for lesson in chapter.lessons]
        )
        self.events.append(PendingEvent(types.COURSE_CHAPTER_REMOVED, payload))

    def _add_lesson(self, i: int, op: ops.AddLesson, media: dict[str, MediaFacts], actor_id: str) -> None:
        chapter = self._chapter(i, "chapterId", op.chapter_id)
        title = self._title(i, "title", op.title)
        summary = self._media(i, op.media_id, media, actor_id)
        position = self._position(i, op.position, len(chapter.lessons), default=len(chapter.lessons))
        lesson = LessonNode(
            id=self._new_id(i, op.temp_id),
            chapter_id=chapter.id,
            title=title,
            media_id=op.media_id or None,
            media=summary,
            is_new=True,
        )
        chapter.lessons.insert(position, lesson)
        self._lessons[lesson.id] = lesson
        self._lesson_event(types.COURSE_LESSON_ADDED, lesson, chapter)

    def _rename_lesson(self, i: int, op: ops.RenameLesson, media: dict[str, MediaFacts], actor_id: str) -> None:
        lesson = self._lesson(i, op.lesson_id)
        lesson.title = self._title(i, "title", op.title)
        self._lesson_event(types.COURSE_LESSON_RENAMED, lesson, self._chapters[lesson.chapter_id])

    def _move_lesson(self, i: int, op: ops.MoveLesson, media: dict[str, MediaFacts], actor_id: str) -> None:
        lesson = self._lesson(i, op.lesson_id)
        target = self._chapter(i, "chapterId", op.chapter_id)
        source = self._chapters[lesson.chapter_id]
        highest = len(target.lessons) - 1 if target is source else len(target.lessons)
        position = self._position(i, op.position, highest)
        source.lessons.remove(lesson)
        target.lessons.insert(position, lesson)
        lesson.chapter_id = target.id
        self._lesson_event(types.COURSE_LESSON_MOVED, lesson, target)

    def _delete_lesson(self, i: int, op: ops.DeleteLesson, media: dict[str, MediaFacts], actor_id: str) -> None:
        lesson = self._lesson(i, op.lesson_id)
        self._chapters[lesson.chapter_id].lessons.remove(lesson)
        del self._lessons[lesson.id]
        lesson.deleted = True
        self.removed_lessons.append(lesson)
        payload = ev.LessonRemoved(
            course_id=self.course_id, chapter_id=lesson.chapter_id, lesson_id=lesson.id, media_id=lesson.media_id
        )
        self.events.append(PendingEvent(types.COURSE_LESSON_REMOVED, payload))

    def _set_lesson_media(self, i: int, op: ops.SetLessonMedia, media: dict[str, MediaFacts], actor_id: str) -> None:
        lesson = self._lesson(i, op.lesson_id)
        summary = self._media(i, op.media_id, media, actor_id)
        previous = lesson.media_id
        lesson.media_id, lesson.media = (op.media_id or None), summary
        if previous == lesson.media_id:
            return
        payload = ev.LessonMediaChanged(
            course_id=self.course_id, lesson_id=lesson.id, media_id=lesson.media_id, previous_media_id=previous
        )
        event_type = types.COURSE_LESSON_MEDIA_SET if lesson.media_id else types.COURSE_LESSON_MEDIA_CLEARED
        self.events.append(PendingEvent(event_type, payload))

    def _update_course(self, i: int, op: ops.UpdateCourse, media: dict[str, MediaFacts], actor_id: str) -> None:
        self._patch(i, op.patch)

    # -- checks -------------------------------------------------------------------------------

    def _title(self, i: int, field_name: str, value: str) -> str:
        title = value.strip()
        if not title:
            raise invalid_operation(i, field_name, "must not be empty")
        if len(title) > self._max_title:
            raise invalid_operation(i, field_name, f"must be at most {self._max_title} characters")
        return title

    def _position(self, i: int, value: int | None, highest: int, default: int | None = None) -> int:
        if value is None:
            if default is None:
                raise invalid_operation(i, "position", "is required")
            return default
        if value < 0 or value > highest:
            raise invalid_operation(i, "position", f"must be between 0 and {max(highest, 0)}")
        return value

    def _new_id(self, i: int, temp_id: str) -> str:
        new_id = str(uuid.uuid4())
        if temp_id:
            if temp_id in self._temp_ids or temp_id in self._chapters or temp_id in self._lessons:
                raise invalid_operation(i, "tempId", "is already used in this save")
            self._temp_ids[temp_id] = new_id
        return new_id

    def _chapter(self, i: int, field_name: str, ref: str) -> ChapterNode:
        chapter_id = self._temp_ids.get(ref, ref)
        chapter = self._chapters.get(chapter_id)
        if chapter is None:
            problem = "chapter was deleted" if chapter_id in self._deleted_chapter_ids else "unknown chapter"
            raise invalid_operation(i, field_name, problem)
        return chapter

    def _lesson(self, i: int, ref: str) -> LessonNode:
        lesson = self._lessons.get(self._temp_ids.get(ref, ref))
        if lesson is None:
            raise invalid_operation(i, "lessonId", "unknown lesson")
        return lesson

    def _media(
        self, i: int, media_id: str | None, media: dict[str, MediaFacts], actor_id: str
    ) -> MediaSummaryView | None:
        if not media_id:
            return None
        facts = media.get(media_id)
        if facts is None:
            # Not yet in the read model (its event may still be on its way): accepted, shown later.
            return None
        if facts.owner_id not in (self.owner_id, actor_id):
            raise invalid_operation(i, "mediaId", "unknown media")
        if facts.gone:
            raise invalid_operation(i, "mediaId", "media was deleted")
        return facts.summary

    def _patch(self, i: int, patch: CoursePatch) -> None:
        if patch.title is not None:
            self.course_patch["title"] = self._title(i, "patch.title", patch.title)
        if patch.description is not None:
            if len(patch.description) > self._max_description:
                raise invalid_operation(i, "patch.description", f"must be at most {self._max_description} characters")
            self.course_patch["description"] = patch.description

    # -- events ------------------------------------------------------------------------------

    def _chapter_event(self, event_type: str, chapter: ChapterNode) -> None:
        self.events.append(
            PendingEvent(
                event_type,
                ev.ChapterChanged(
                    course_id=self.course_id,
                    chapter_id=chapter.id,
                    title=chapter.title,
                    position=self.chapters.index(chapter),
                ),
            )
        )

    def _lesson_event(self, event_type: str, lesson: LessonNode, chapter: ChapterNode) -> None:
        self.events.append(
            PendingEvent(
                event_type,
                ev.LessonChanged(
                    course_id=self.course_id,
                    chapter_id=chapter.id,
                    lesson_id=lesson.id,
                    title=lesson.title,
                    position=chapter.lessons.index(lesson),
                    media_id=lesson.media_id,
                    owner_id=self.owner_id,
                ),
            )
        )

    def changes(self, now: datetime) -> Changes:
        """The rows to insert and update so the database matches the outline (dense positions)."""
        return changes_of(self, now)


_APPLY: dict[type, Callable[[Outline, int, Any, dict[str, MediaFacts], str], None]] = {
    ops.AddChapter: Outline._add_chapter,
    ops.RenameChapter: Outline._rename_chapter,
    ops.MoveChapter: Outline._move_chapter,
    ops.DeleteChapter: Outline._delete_chapter,
    ops.AddLesson: Outline._add_lesson,
    ops.RenameLesson: Outline._rename_lesson,
    ops.MoveLesson: Outline._move_lesson,
    ops.DeleteLesson: Outline._delete_lesson,
    ops.SetLessonMedia: Outline._set_lesson_media,
    ops.UpdateCourse: Outline._update_course,
}
"""Each operation's method; an operation not here (``Unknown``) is refused with its index."""
