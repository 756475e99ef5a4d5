"""Proto answers the scripted services give."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from lectern.course.v1 import course_pb2

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def stamp(value: datetime = NOW) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


def course(course_id: str = "c1", owner: str = "user-1", version: int = 1, title: str = "Intro") -> course_pb2.Course:
    return course_pb2.Course(
        id=course_id,
        owner_id=owner,
        title=title,
        description="",
        version=version,
        created_at=stamp(),
        updated_at=stamp(),
        role=course_pb2.COURSE_ROLE_OWNER,
    )


def course_edit(course_id: str = "c1", version: int = 1) -> course_pb2.CourseEdit:
    lesson = course_pb2.Lesson(
        id="l1",
        title="Welcome",
        position=0,
        media_id="m1",
        media=course_pb2.MediaSummary(id="m1", file_name="a.mp4", status="ready", size_bytes=10),
    )
    chapters = [
        course_pb2.Chapter(id="ch2", title="Two", position=1),
        course_pb2.Chapter(id="ch1", title="One", position=0, lessons=[lesson]),
    ]
    return course_pb2.CourseEdit(course=course(course_id, version=version), chapters=chapters)
