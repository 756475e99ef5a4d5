"""CourseServicer: proto <-> schema mapping and one unit of work per RPC; the rules live in the
services. The caller's identity comes from the server interceptor (``current_identity``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from lectern.course.v1 import course_pb2 as pb
from lectern_common.db import UnitOfWork
from lectern_common.grpc_wire import add_servicer_answering_bytes
from lectern_common.identity import require_identity
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.courses.schemas import CoursePatch, ResourceRef, ResourceType
from lectern_course.courses.service import CourseService
from lectern_course.editing import schemas as ops
from lectern_course.editing.service import EditingService
from lectern_course.transport.messages import course_to_pb, encoded_edit_field, fill_edit

SERVICE_NAME = "lectern.course.v1.CourseService"

_RESOURCE_TYPE = {
    pb.RESOURCE_TYPE_COURSE: ResourceType.COURSE,
    pb.RESOURCE_TYPE_CHAPTER: ResourceType.CHAPTER,
    pb.RESOURCE_TYPE_LESSON: ResourceType.LESSON,
}
_RESOURCE_TYPE_PB = {value: key for key, value in _RESOURCE_TYPE.items()}


def _patch(message: pb.CoursePatch) -> CoursePatch:
    return CoursePatch(
        title=message.title if message.HasField("title") else None,
        description=message.description if message.HasField("description") else None,
    )


def _optional(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


def _add_chapter(m: pb.AddChapterOp) -> ops.Operation:
    return ops.AddChapter(temp_id=m.temp_id, title=m.title, position=_optional(m, "position"))


def _add_lesson(m: pb.AddLessonOp) -> ops.Operation:
    return ops.AddLesson(
        chapter_id=m.chapter_id,
        temp_id=m.temp_id,
        title=m.title,
        media_id=_optional(m, "media_id"),
        position=_optional(m, "position"),
    )


_OPERATION_FROM_PB: dict[str, Callable[[Any], ops.Operation]] = {
    "add_chapter": _add_chapter,
    "rename_chapter": lambda m: ops.RenameChapter(chapter_id=m.chapter_id, title=m.title),
    "move_chapter": lambda m: ops.MoveChapter(chapter_id=m.chapter_id, position=m.position),
    "delete_chapter": lambda m: ops.DeleteChapter(chapter_id=m.chapter_id),
    "add_lesson": _add_lesson,
    "rename_lesson": lambda m: ops.RenameLesson(lesson_id=m.lesson_id, title=m.title),
    "move_lesson": lambda m: ops.MoveLesson(lesson_id=m.lesson_id, chapter_id=m.chapter_id, position=m.position),
    "delete_lesson": lambda m: ops.DeleteLesson(lesson_id=m.lesson_id),
    "set_lesson_media": lambda m: ops.SetLessonMedia(lesson_id=m.lesson_id, media_id=_optional(m, "media_id")),
    "update_course": lambda m: ops.UpdateCourse(patch=_patch(m.patch)),
}
"""Each oneof case of an Operation, read from its message."""


def operation_from_pb(message: pb.Operation) -> ops.Operation:
    kind = message.WhichOneof("op")
    read = _OPERATION_FROM_PB.get(kind or "")
    if kind is None or read is None:
        return ops.Unknown()
    return read(getattr(message, kind))


def add_course_service(servicer: CourseServicer, server: grpc.aio.Server) -> None:
    """Register ``servicer`` with a response serializer that passes through the bytes its
    methods answer already encoded (lectern_common.grpc_wire)."""
    add_servicer_answering_bytes(servicer, server, pb, "CourseService")


class CourseServicer:
    """Every RPC of lectern.course.v1.CourseService (registered by add_course_service)."""

    def __init__(self, uow: UnitOfWork, courses: CourseService, editing: EditingService) -> None:
        self._uow = uow
        self._courses = courses
        self._editing = editing

    @asynccontextmanager
    async def _reads(self) -> AsyncIterator[AsyncSession]:
        """A read-only session whose statements run outside a transaction: under READ COMMITTED
        each statement of a transaction sees its own snapshot anyway, so the reads answer the same,
        without the BEGIN and ROLLBACK round trips (a cached GetCourseEdit is then one statement)."""
        async with self._uow.read_only() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session

    async def CreateCourse(
        self, request: pb.CreateCourseRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateCourseResponse:
        async with self._uow() as session:
            course = await self._courses.create_course(
                session,
                require_identity(),
                title=request.title,
                description=request.description,
                idempotency_key=request.idempotency_key,
            )
        return pb.CreateCourseResponse(course=course_to_pb(course))

    async def ListMyCourses(
        self, request: pb.ListMyCoursesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMyCoursesResponse:
        async with self._reads() as session:
            page = await self._courses.list_my_courses(
                session,
                require_identity(),
                include_deleted=request.include_deleted,
                cursor=request.cursor,
                limit=request.limit,
                published=request.published if request.HasField("published") else None,
            )
        return pb.ListMyCoursesResponse(
            items=[
                pb.CourseSummary(
                    course=course_to_pb(item.course), chapter_count=item.chapter_count, lesson_count=item.lesson_count
                )
                for item in page.items
            ],
            next_cursor=page.next_cursor,
        )

    async def GetCourseEdit(self, request: pb.GetCourseEditRequest, context: grpc.aio.ServicerContext) -> bytes:
        """Answers the GetCourseEditResponse's wire bytes (see transport.messages)."""
        async with self._reads() as session:
            edit = await self._courses.get_encoded_course_edit(
                session, require_identity(), request.course_id, include_deleted=request.include_deleted
            )
        return encoded_edit_field(1, edit.course, edit.chapters)

    async def UpdateCourse(
        self, request: pb.UpdateCourseRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateCourseResponse:
        async with self._uow() as session:
            course = await self._courses.update_course(
                session,
                require_identity(),
                course_id=request.course_id,
                expected_version=request.expected_version,
                patch=_patch(request.patch),
                idempotency_key=request.idempotency_key,
            )
        return pb.UpdateCourseResponse(course=course_to_pb(course))

    async def SaveCourseChanges(
        self, request: pb.SaveCourseChangesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SaveCourseChangesResponse | bytes:
        operations = [operation_from_pb(operation) for operation in request.operations]
        async with self._uow() as session:
            result = await self._editing.save_changes(
                session,
                require_identity(),
                course_id=request.course_id,
                expected_version=request.expected_version,
                operations=operations,
                idempotency_key=request.idempotency_key,
            )
        # Committed: the saved tree is encoded once, for the cache and for this answer.
        chapters = self._editing.cache_saved_tree(session, result)
        if chapters is not None:
            return pb.SaveCourseChangesResponse(id_map=result.id_map).SerializeToString() + encoded_edit_field(
                1, result.course.course, chapters
            )
        response = pb.SaveCourseChangesResponse(id_map=result.id_map)
        fill_edit(response.course, result.course)
        return response

    async def DeleteCourse(
        self, request: pb.DeleteCourseRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteCourseResponse:
        async with self._uow() as session:
            course = await self._courses.delete_course(
                session,
                require_identity(),
                course_id=request.course_id,
                idempotency_key=request.idempotency_key,
                force=request.force,
            )
        return pb.DeleteCourseResponse(course=course_to_pb(course))

    async def RestoreCourse(
        self, request: pb.RestoreCourseRequest, context: grpc.aio.ServicerContext
    ) -> pb.RestoreCourseResponse:
        async with self._uow() as session:
            course = await self._courses.restore_course(
                session, require_identity(), course_id=request.course_id, idempotency_key=request.idempotency_key
            )
        return pb.RestoreCourseResponse(course=course_to_pb(course))

    async def PublishCourse(
        self, request: pb.PublishCourseRequest, context: grpc.aio.ServicerContext
    ) -> pb.PublishCourseResponse:
        async with self._uow() as session:
            course = await self._courses.publish_course(
                session,
                require_identity(),
                course_id=request.course_id,
                expected_version=request.expected_version,
                idempotency_key=request.idempotency_key,
            )
        return pb.PublishCourseResponse(course=course_to_pb(course))

    async def UnpublishCourse(
        self, request: pb.UnpublishCourseRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnpublishCourseResponse:
        async with self._uow() as session:
            course = await self._courses.unpublish_course(
                session,
                require_identity(),
                course_id=request.course_id,
                expected_version=request.expected_version,
                idempotency_key=request.idempotency_key,
            )
        return pb.UnpublishCourseResponse(course=course_to_pb(course))

    async def AddCourseEditor(
        self, request: pb.AddCourseEditorRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddCourseEditorResponse:
        async with self._uow() as session:
            course = await self._courses.add_editor(
                session, require_identity(), course_id=request.course_id, user_id=request.user_id
            )
        return pb.AddCourseEditorResponse(course=course_to_pb(course))

    async def CheckCourseAccess(
        self, request: pb.CheckCourseAccessRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckCourseAccessResponse:
        async with self._reads() as session:
            course = await self._courses.check_access(
                session,
                require_identity(),
                course_id=request.course_id,
                chapter_id=request.chapter_id if request.HasField("chapter_id") else None,
            )
        return pb.CheckCourseAccessResponse(course=course_to_pb(course))

    async def ResolveResources(
        self, request: pb.ResolveResourcesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResolveResourcesResponse:
        refs = [ResourceRef(type=_RESOURCE_TYPE.get(ref.resource_type), id=ref.resource_id) for ref in request.refs]
        async with self._reads() as session:
            resolved = await self._courses.resolve_resources(session, require_identity(), refs)
        return pb.ResolveResourcesResponse(
            resources=[
                pb.ResolvedResource(
                    ref=pb.ResourceRef(
                        resource_type=_RESOURCE_TYPE_PB.get(item.ref.type, pb.RESOURCE_TYPE_UNSPECIFIED)
                        if item.ref.type
                        else pb.RESOURCE_TYPE_UNSPECIFIED,
                        resource_id=item.ref.id,
                    ),
                    exists=item.exists,
                    course_id=item.course_id,
                    can_edit=item.can_edit,
                    course_published=item.course_published,
                    course_title=item.course_title,
                )
                for item in resolved
            ]
        )
