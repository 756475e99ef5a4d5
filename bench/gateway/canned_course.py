"""A course gRPC server that answers GetCourseEdit and SaveCourseChanges with one canned course
(5 chapters x 4 lessons, the shape bench/gateway/run.py's users own), for ``alone.py``.

    python bench/gateway/canned_course.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from lectern.course.v1 import course_pb2, course_pb2_grpc

CHAPTER_ID = "chapter-0000-0000"


def canned_edit(course_id: str, version: int) -> course_pb2.CourseEdit:
    # As a stored course: the same version answers the same edit, its time that of its last save.
    now = Timestamp(seconds=1_764_000_000 + version)
    chapters = [
        course_pb2.Chapter(
            id=f"chapter-{c:04d}-0000",
            title=f"Chapter {c}",
            position=c,
            lessons=[
                course_pb2.Lesson(id=f"lesson-{c}-{n}-000000", title=f"Lesson {c}.{n}", position=n) for n in range(4)
            ],
        )
        for c in range(5)
    ]
    course = course_pb2.Course(
        id=course_id,
        owner_id="bench",
        title="Bench",
        description="",
        version=version,
        created_at=now,
        updated_at=now,
        role=course_pb2.COURSE_ROLE_OWNER,
    )
    return course_pb2.CourseEdit(course=course, chapters=chapters)


class CannedCourse(course_pb2_grpc.CourseServiceServicer):
    """Each save moves the course one version on (the expected version is not checked) and answers
    the saved edit; a read answers the edit at the course's current version, as course does."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}

    async def GetCourseEdit(self, request: Any, context: Any) -> course_pb2.GetCourseEditResponse:
        version = self._versions.get(request.course_id, 7)
        return course_pb2.GetCourseEditResponse(course=canned_edit(request.course_id, version))

    async def SaveCourseChanges(self, request: Any, context: Any) -> course_pb2.SaveCourseChangesResponse:
        version = self._versions[request.course_id] = self._versions.get(request.course_id, 7) + 1
        return course_pb2.SaveCourseChangesResponse(course=canned_edit(request.course_id, version))


async def serve(port: int) -> None:
    server = grpc.aio.server()
    course_pb2_grpc.add_CourseServiceServicer_to_server(CannedCourse(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
