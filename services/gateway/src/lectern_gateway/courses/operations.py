"""``saveCourseChanges`` operations and course patches as the course service's proto messages.

One small builder per operation, found by the operation's model: adding an operation is one
function and one table entry, and no branch grows with the list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lectern.course.v1 import course_pb2

from lectern_gateway.courses import schemas as s


def course_patch(patch: s.CoursePatchInput) -> course_pb2.CoursePatch:
    message = course_pb2.CoursePatch()
    if patch.title is not None:
        message.title = patch.title
    if patch.description is not None:
        message.description = patch.description
    return message


def operation_message(op: Any) -> course_pb2.Operation:
    """One save operation as the proto oneof."""
    build = _BUILDERS.get(type(op))
    if build is None:
        raise TypeError(f"unknown operation {op!r}")
    return build(op)


def _add_chapter(op: s.AddChapterOp) -> course_pb2.Operation:
    add_chapter = course_pb2.AddChapterOp(temp_id=op.temp_id or "", title=op.title)
    if op.position is not None:
        add_chapter.position = op.position
    return course_pb2.Operation(add_chapter=add_chapter)


def _rename_chapter(op: s.RenameChapterOp) -> course_pb2.Operation:
    return course_pb2.Operation(rename_chapter=course_pb2.RenameChapterOp(chapter_id=op.chapter_id, title=op.title))


def _move_chapter(op: s.MoveChapterOp) -> course_pb2.Operation:
    return course_pb2.Operation(move_chapter=course_pb2.MoveChapterOp(chapter_id=op.chapter_id, position=op.position))


def _delete_chapter(op: s.DeleteChapterOp) -> course_pb2.Operation:
    return course_pb2.Operation(delete_chapter=course_pb2.DeleteChapterOp(chapter_id=op.chapter_id))


def _add_lesson(op: s.AddLessonOp) -> course_pb2.Operation:
    add_lesson = course_pb2.AddLessonOp(chapter_id=op.chapter_id, temp_id=op.temp_id or "", title=op.title)
    if op.media_id is not None:
        add_lesson.media_id = op.media_id
    if op.position is not None:
        add_lesson.position = op.position
    return course_pb2.Operation(add_lesson=add_lesson)


def _rename_lesson(op: s.RenameLessonOp) -> course_pb2.Operation:
    return course_pb2.Operation(rename_lesson=course_pb2.RenameLessonOp(lesson_id=op.lesson_id, title=op.title))


def _move_lesson(op: s.MoveLessonOp) -> course_pb2.Operation:
    return course_pb2.Operation(
        move_lesson=course_pb2.MoveLessonOp(lesson_id=op.lesson_id, chapter_id=op.chapter_id, position=op.position)
    )


def _delete_lesson(op: s.DeleteLessonOp) -> course_pb2.Operation:
    return course_pb2.Operation(delete_lesson=course_pb2.DeleteLessonOp(lesson_id=op.lesson_id))


def _update_course(op: s.UpdateCourseOp) -> course_pb2.Operation:
    return course_pb2.Operation(update_course=course_pb2.UpdateCourseOp(patch=course_patch(op.patch)))


def _set_lesson_media(op: s.SetLessonMediaOp) -> course_pb2.Operation:
    set_media = course_pb2.SetLessonMediaOp(lesson_id=op.lesson_id)
    if op.media_id is not None:
        set_media.media_id = op.media_id
    return course_pb2.Operation(set_lesson_media=set_media)


_BUILDERS: dict[type[Any], Callable[[Any], course_pb2.Operation]] = {
    s.AddChapterOp: _add_chapter,
    s.RenameChapterOp: _rename_chapter,
    s.MoveChapterOp: _move_chapter,
    s.DeleteChapterOp: _delete_chapter,
    s.AddLessonOp: _add_lesson,
    s.RenameLessonOp: _rename_lesson,
    s.MoveLessonOp: _move_lesson,
    s.DeleteLessonOp: _delete_lesson,
    s.UpdateCourseOp: _update_course,
    s.SetLessonMediaOp: _set_lesson_media,
}
