"""Writing an outline back: the rows to insert and update so the database matches it, with dense
positions, touching only what the save changed (one bulk statement per kind of change)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lectern_course.courses.events import PendingEvent
from lectern_course.editing.tree import ChapterNode, LessonNode

if TYPE_CHECKING:
    from lectern_course.editing.outline import Outline


@dataclass
class Changes:
    """The writes a save needs, as row dicts for bulk statements, plus its events."""

    chapter_inserts: list[dict[str, Any]] = field(default_factory=list)
    lesson_inserts: list[dict[str, Any]] = field(default_factory=list)
    chapter_updates: list[dict[str, Any]] = field(default_factory=list)
    lesson_updates: list[dict[str, Any]] = field(default_factory=list)
    course_values: dict[str, Any] = field(default_factory=dict)
    events: list[PendingEvent] = field(default_factory=list)


def changes_of(outline: Outline, now: datetime) -> Changes:
    """The rows to insert and update so the database matches ``outline``; removed nodes are marked
    deleted at ``now`` (a node added and removed in the same save is never written)."""
    changes = Changes(course_values=dict(outline.course_patch), events=outline.events)
    for cpos, chapter in enumerate(outline.chapters):
        _write_chapter(changes, outline.course_id, chapter, cpos)
        for lpos, lesson in enumerate(chapter.lessons):
            _write_lesson(changes, outline.course_id, lesson, lpos)
    for chapter in outline.removed_chapters:
        if not chapter.is_new:
            changes.chapter_updates.append(
                {"id": chapter.id, "title": chapter.title, "position": chapter.loaded_position, "deleted_at": now}
            )
    for lesson in outline.removed_lessons:
        if not lesson.is_new:
            changes.lesson_updates.append(_lesson_row(lesson, lesson.loaded_position or 0, now))
    return changes


def _write_chapter(changes: Changes, course_id: str, chapter: ChapterNode, position: int) -> None:
    if chapter.is_new:
        changes.chapter_inserts.append(
            {"id": chapter.id, "course_id": course_id, "title": chapter.title, "position": position}
        )
    elif chapter.title != chapter.loaded_title or position != chapter.loaded_position:
        changes.chapter_updates.append(
            {"id": chapter.id, "title": chapter.title, "position": position, "deleted_at": None}
        )


def _write_lesson(changes: Changes, course_id: str, lesson: LessonNode, position: int) -> None:
    if lesson.is_new:
        changes.lesson_inserts.append(
            {**_lesson_row(lesson, position, None), "course_id": course_id, "upload_operation_id": None}
        )
    elif (
        position != lesson.loaded_position
        or lesson.chapter_id != lesson.loaded_chapter_id
        or lesson.title != lesson.loaded_title
        or lesson.media_id != lesson.loaded_media_id
    ):
        changes.lesson_updates.append(_lesson_row(lesson, position, None))


def _lesson_row(lesson: LessonNode, position: int, deleted_at: datetime | None) -> dict[str, Any]:
    return {
        "id": lesson.id,
        "chapter_id": lesson.chapter_id,
        "title": lesson.title,
        "position": position,
        "media_id": lesson.media_id,
        "deleted_at": deleted_at,
    }
