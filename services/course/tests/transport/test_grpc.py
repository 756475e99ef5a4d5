"""The real grpc.aio server over a real channel: auth, mapping, and errors with their details."""

from __future__ import annotations

import grpc
import pytest
from lectern.course.v1 import course_pb2 as pb
from lectern_common.errors import decode_grpc_error
from lectern_course.bootstrap import CourseApp
from lectern_course.media_summaries.service import MediaFileFacts


def error_of(exc: grpc.aio.AioRpcError):
    return decode_grpc_error(exc.code(), exc.details(), exc.trailing_metadata())


async def test_a_call_without_a_token_is_unauthenticated(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListMyCourses(pb.ListMyCoursesRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_create_save_and_read_the_tree_over_grpc(stub, auth, new_user) -> None:
    owner = new_user()
    created = await stub.CreateCourse(pb.CreateCourseRequest(title="Over gRPC"), metadata=auth(owner), timeout=5)
    course = created.course
    assert course.version == 1 and course.owner_id == owner.user_id and course.role == pb.COURSE_ROLE_OWNER

    saved = await stub.SaveCourseChanges(
        pb.SaveCourseChangesRequest(
            course_id=course.id,
            expected_version=1,
            operations=[
                pb.Operation(add_chapter=pb.AddChapterOp(temp_id="c", title="Intro")),
                pb.Operation(add_lesson=pb.AddLessonOp(chapter_id="c", temp_id="l", title="Welcome")),
                pb.Operation(add_lesson=pb.AddLessonOp(chapter_id="c", title="First", position=0)),
            ],
        ),
        metadata=auth(owner),
        timeout=5,
    )
    assert saved.course.course.version == 2
    assert [lesson.title for lesson in saved.course.chapters[0].lessons] == ["First", "Welcome"]
    assert saved.id_map["l"] == saved.course.chapters[0].lessons[1].id

    read = await stub.GetCourseEdit(pb.GetCourseEditRequest(course_id=course.id), metadata=auth(owner), timeout=5)
    assert read.course == saved.course
    assert not read.course.chapters[0].lessons[0].HasField("media")


async def test_the_tree_carries_media_summaries_from_the_read_model(app: CourseApp, stub, auth, new_user) -> None:
    owner = new_user()
    async with app.uow() as session:
        await app.media_summaries.record_file(
            session,
            MediaFileFacts(
                media_id=f"m-{owner.user_id}",
                owner_id=owner.user_id,
                file_name="intro.mp4",
                status="ready",
                duration_seconds=61.5,
                size_bytes=1234,
                version=2,
            ),
        )
    course = (await stub.CreateCourse(pb.CreateCourseRequest(title="Media"), metadata=auth(owner), timeout=5)).course
    saved = await stub.SaveCourseChanges(
        pb.SaveCourseChangesRequest(
            course_id=course.id,
            expected_version=1,
            operations=[
                pb.Operation(add_chapter=pb.AddChapterOp(temp_id="c", title="Intro")),
                pb.Operation(add_lesson=pb.AddLessonOp(chapter_id="c", title="Video", media_id=f"m-{owner.user_id}")),
            ],
        ),
        metadata=auth(owner),
        timeout=5,
    )
    lesson = saved.course.chapters[0].lessons[0]
    assert lesson.media_id == f"m-{owner.user_id}"
    assert lesson.media.file_name == "intro.mp4" and lesson.media.status == "ready"
    assert lesson.media.duration_seconds == 61.5 and lesson.media.size_bytes == 1234
    read = await stub.GetCourseEdit(pb.GetCourseEditRequest(course_id=course.id), metadata=auth(owner), timeout=5)
    assert read.course.chapters[0].lessons[0].media == lesson.media


async def test_a_bad_operation_answers_invalid_argument_with_fields_and_index(stub, auth, new_user) -> None:
    owner = new_user()
    course = (await stub.CreateCourse(pb.CreateCourseRequest(title="Bad"), metadata=auth(owner), timeout=5)).course
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SaveCourseChanges(
            pb.SaveCourseChangesRequest(
                course_id=course.id,
                expected_version=1,
                operations=[
                    pb.Operation(add_chapter=pb.AddChapterOp(title="ok")),
                    pb.Operation(add_chapter=pb.AddChapterOp(title="x" * 201)),
                ],
            ),
            metadata=auth(owner),
            timeout=5,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = error_of(caught.value)
    assert error.kind == "VALIDATION_FAILED"
    assert error.fields == {"operations.1.title": "must be at most 200 characters"}
    assert error.details == {"operationIndex": 1}
    read = await stub.GetCourseEdit(pb.GetCourseEditRequest(course_id=course.id), metadata=auth(owner), timeout=5)
    assert read.course.course.version == 1 and len(read.course.chapters) == 0


async def test_a_stale_save_answers_aborted_with_the_current_state(stub, auth, new_user) -> None:
    owner = new_user()
    course = (await stub.CreateCourse(pb.CreateCourseRequest(title="Race"), metadata=auth(owner), timeout=5)).course
    await stub.UpdateCourse(
        pb.UpdateCourseRequest(course_id=course.id, expected_version=1, patch=pb.CoursePatch(title="Newer")),
        metadata=auth(owner),
        timeout=5,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SaveCourseChanges(
            pb.SaveCourseChangesRequest(
                course_id=course.id,
                expected_version=1,
                operations=[pb.Operation(add_chapter=pb.AddChapterOp(title="late"))],
            ),
            metadata=auth(owner),
            timeout=5,
        )
    assert caught.value.code() == grpc.StatusCode.ABORTED
    error = error_of(caught.value)
    assert error.kind == "CONFLICT"
    assert error.details["currentVersion"] == 2
    assert error.details["current"]["title"] == "Newer" and error.details["current"]["chapters"] == []


async def test_another_users_course_is_not_found_over_grpc(stub, auth, new_user) -> None:
    owner, stranger = new_user("owner"), new_user("stranger")
    course = (await stub.CreateCourse(pb.CreateCourseRequest(title="Mine"), metadata=auth(owner), timeout=5)).course
    for call, request in [
        (stub.GetCourseEdit, pb.GetCourseEditRequest(course_id=course.id)),
        (stub.DeleteCourse, pb.DeleteCourseRequest(course_id=course.id)),
        (stub.CheckCourseAccess, pb.CheckCourseAccessRequest(course_id=course.id)),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=auth(stranger), timeout=5)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert "Mine" not in (caught.value.details() or "")
    resolved = await stub.ResolveResources(
        pb.ResolveResourcesRequest(refs=[pb.ResourceRef(resource_type=pb.RESOURCE_TYPE_COURSE, resource_id=course.id)]),
        metadata=auth(stranger),
        timeout=5,
    )
    assert resolved.resources[0].exists is False and resolved.resources[0].course_title == ""


async def test_delete_and_restore_over_grpc(stub, auth, new_user) -> None:
    owner = new_user()
    course = (await stub.CreateCourse(pb.CreateCourseRequest(title="Gone"), metadata=auth(owner), timeout=5)).course
    deleted = await stub.DeleteCourse(
        pb.DeleteCourseRequest(course_id=course.id, idempotency_key="k1"), metadata=auth(owner), timeout=5
    )
    assert deleted.course.HasField("deleted_at") and deleted.course.version == 2
    listed = await stub.ListMyCourses(pb.ListMyCoursesRequest(), metadata=auth(owner), timeout=5)
    assert listed.items == []
    restored = await stub.RestoreCourse(pb.RestoreCourseRequest(course_id=course.id), metadata=auth(owner), timeout=5)
    assert not restored.course.HasField("deleted_at") and restored.course.version == 3
    listed = await stub.ListMyCourses(pb.ListMyCoursesRequest(), metadata=auth(owner), timeout=5)
    assert [item.course.id for item in listed.items] == [course.id]
