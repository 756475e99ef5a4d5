"""The course's answers as protobuf: course and tree messages, and the editor tree's wire bytes.

GetCourseEdit and SaveCourseChanges answer bytes made here rather than messages: the chapters of a
tree are encoded once (courses.edit_cache keeps them) and every answer is the course, encoded
afresh, followed by those bytes. A message's fields may be concatenated in any order on the wire,
so the bytes are exactly what serializing the whole response message would give.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from lectern.course.v1 import course_pb2 as pb
from lectern_common.grpc_wire import message_field

from lectern_course.courses.schemas import ChapterView, CourseEditView, CourseView, MediaSummaryView, Role

_ROLE = {Role.OWNER: pb.COURSE_ROLE_OWNER, Role.EDITOR: pb.COURSE_ROLE_EDITOR}


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def course_to_pb(course: CourseView) -> pb.Course:
    message = pb.Course(
        id=course.id,
        owner_id=course.owner_id,
        title=course.title,
        description=course.description,
        version=course.version,
        created_at=_timestamp(course.created_at),
        updated_at=_timestamp(course.updated_at),
        role=_ROLE.get(course.role, pb.COURSE_ROLE_UNSPECIFIED) if course.role else pb.COURSE_ROLE_UNSPECIFIED,
        published=course.published,
    )
    if course.deleted_at is not None:
        message.deleted_at.CopyFrom(_timestamp(course.deleted_at))
    if course.published_at is not None:
        message.published_at.CopyFrom(_timestamp(course.published_at))
    return message


def _media_to_pb(media: MediaSummaryView) -> pb.MediaSummary:
    return pb.MediaSummary(
        id=media.id,
        file_name=media.file_name,
        status=media.status,
        duration_seconds=media.duration_seconds,
        size_bytes=media.size_bytes,
    )


def fill_edit(message: pb.CourseEdit, edit: CourseEditView) -> None:
    """Write the editor tree into ``message`` (the response's own field, so the 1,000 lessons of a
    50x20 course are not built apart and then copied in): each chapter and lesson is added in
    place, half the time of constructing one message per lesson and passing the lists."""
    message.course.CopyFrom(course_to_pb(edit.course))
    _fill_chapters(message, edit.chapters)


def _fill_chapters(message: pb.CourseEdit, chapters: list[ChapterView]) -> None:
    add_chapter = message.chapters.add
    for chapter in chapters:
        add_lesson = add_chapter(id=chapter.id, title=chapter.title, position=chapter.position).lessons.add
        for lesson in chapter.lessons:
            added = add_lesson(id=lesson.id, title=lesson.title, position=lesson.position, media_id=lesson.media_id)
            if lesson.media is not None:
                added.media.CopyFrom(_media_to_pb(lesson.media))


def encode_chapters(chapters: list[ChapterView]) -> bytes:
    """The ``chapters`` field of a CourseEdit, as its wire bytes."""
    message = pb.CourseEdit()
    _fill_chapters(message, chapters)
    return message.SerializeToString()


def encoded_edit_field(number: int, course: CourseView, chapters: bytes) -> bytes:
    """Field ``number`` of a response, holding the CourseEdit of ``course`` and its encoded
    ``chapters`` (the response's own other fields are encoded by the caller and concatenated)."""
    edit = pb.CourseEdit(course=course_to_pb(course)).SerializeToString() + chapters
    return message_field(number, edit)
