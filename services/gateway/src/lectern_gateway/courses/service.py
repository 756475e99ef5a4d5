"""Course actions: input models -> course gRPC requests -> ``data`` models."""

from __future__ import annotations

import logging
from typing import Any

from lectern.course.v1 import course_pb2
from lectern.media.v1 import media_pb2
from lectern_common.errors import DomainError

from lectern_gateway.actions.registry import Action, ActionContext, EncodedData
from lectern_gateway.courses import schemas as s
from lectern_gateway.courses.edit_json import EditJsonCache, saved_changes_json
from lectern_gateway.courses.operations import course_patch, operation_message
from lectern_gateway.peers import CoursePeer, MediaPeer
from lectern_gateway.proto_time import optional_datetime, to_datetime

log = logging.getLogger(__name__)

_ROLES = {course_pb2.COURSE_ROLE_OWNER: "owner", course_pb2.COURSE_ROLE_EDITOR: "editor"}
_MEDIA_STATUS = {
    media_pb2.MEDIA_STATUS_PROCESSING: "processing",
    media_pb2.MEDIA_STATUS_READY: "ready",
    media_pb2.MEDIA_STATUS_FAILED: "failed",
}


def course_fields(course: course_pb2.Course) -> dict[str, Any]:
    return {
        "id": course.id,
        "owner_id": course.owner_id,
        "title": course.title,
        "description": course.description,
        "version": course.version,
        "published": course.published,
        "published_at": optional_datetime(course, "published_at"),
        "created_at": to_datetime(course.created_at),
        "updated_at": to_datetime(course.updated_at),
        "deleted_at": optional_datetime(course, "deleted_at"),
        "role": _ROLES.get(course.role),
    }


def course_data(course: course_pb2.Course) -> s.Course:
    return s.Course(**course_fields(course))


def _lesson_media(lesson: course_pb2.Lesson) -> s.LessonMedia | None:
    if not lesson.HasField("media"):
        return None
    media = lesson.media
    return s.LessonMedia(
        id=media.id,
        file_name=media.file_name,
        status=media.status or "processing",
        duration_seconds=media.duration_seconds if media.HasField("duration_seconds") else None,
        size_bytes=media.size_bytes,
    )


def course_edit_data(edit: course_pb2.CourseEdit) -> s.CourseEdit:
    chapters = [
        s.ChapterEdit(
            id=chapter.id,
            title=chapter.title,
            position=chapter.position,
            lessons=[
                s.LessonEdit(
                    id=lesson.id,
                    title=lesson.title,
                    position=lesson.position,
                    media_id=lesson.media_id if lesson.HasField("media_id") else None,
                    media=_lesson_media(lesson),
                )
                for lesson in sorted(chapter.lessons, key=lambda item: item.position)
            ],
        )
        for chapter in sorted(edit.chapters, key=lambda item: item.position)
    ]
    return s.CourseEdit(**course_fields(edit.course), chapters=chapters)


def encode_course_edit(edit: course_pb2.CourseEdit) -> bytes:
    """The ``data`` JSON of ``edit``, built from its models."""
    data = course_edit_data(edit)
    return data.__pydantic_serializer__.to_json(data, by_alias=True)


# About 3.5 kB an entry for a 5 x 4 course (its message and JSON), some 250 kB for 50 x 20.
EDIT_JSON_MAX_BYTES = 8 * 1024 * 1024


class CourseActions:
    """The course actions; the course service holds every rule, this only translates."""

    def __init__(
        self, course: CoursePeer, media: MediaPeer | None = None, edit_json: EditJsonCache | None = None
    ) -> None:
        self._course = course
        self._media = media
        # ``is None``, not ``or``: an empty cache has no entries, so it is falsy.
        self._edit_json = EditJsonCache(encode_course_edit, EDIT_JSON_MAX_BYTES) if edit_json is None else edit_json

    async def create_course(self, ctx: ActionContext, data: s.CreateCourseInput) -> s.Course:
        """Create a course owned by the caller."""
        request = course_pb2.CreateCourseRequest(
            title=data.title, description=data.description, idempotency_key=ctx.service_idempotency_key
        )
        response = await self._course.create_course(request, ctx)
        return course_data(response.course)

    async def list_my_courses(self, ctx: ActionContext, data: s.ListMyCoursesInput) -> s.CourseList:
        """The caller's courses, newest first, a page at a time."""
        request = course_pb2.ListMyCoursesRequest(
            include_deleted=data.include_deleted, cursor=data.cursor or "", limit=data.limit or 0
        )
        if data.published is not None:
            request.published = data.published
        response = await self._course.list_my_courses(request, ctx)
        items = [
            s.CourseSummary(
                **course_fields(item.course), chapter_count=item.chapter_count, lesson_count=item.lesson_count
            )
            for item in response.items
        ]
        return s.CourseList(items=items, next_cursor=response.next_cursor or None)

    async def get_course_edit(self, ctx: ActionContext, data: s.GetCourseEditInput) -> EncodedData:
        """The editor's view: chapters, lessons, and each lesson's media summary (``s.CourseEdit``).

        The JSON is looked up by the message after the media summaries are filled in, so an entry
        is never one built before or without them."""
        request = course_pb2.GetCourseEditRequest(course_id=data.course_id, include_deleted=data.include_deleted)
        response = await self._course.get_course_edit(request, ctx)
        await self._fill_missing_media(ctx, response.course)
        return EncodedData(self._edit_json.encoded(response.course))

    async def update_course(self, ctx: ActionContext, data: s.UpdateCourseInput) -> s.Course:
        """Change title/description at the expected version (CONFLICT when it moved on)."""
        request = course_pb2.UpdateCourseRequest(
            course_id=data.course_id,
            expected_version=data.expected_version,
            patch=course_patch(data.patch),
            idempotency_key=ctx.service_idempotency_key,
        )
        response = await self._course.update_course(request, ctx)
        return course_data(response.course)

    async def save_course_changes(self, ctx: ActionContext, data: s.SaveCourseChangesInput) -> EncodedData:
        """Apply a batch of operations in one transaction, or none (CONFLICT carries the current state)."""
        request = course_pb2.SaveCourseChangesRequest(
            course_id=data.course_id,
            expected_version=data.expected_version,
            operations=[operation_message(op) for op in data.operations],
            idempotency_key=ctx.service_idempotency_key,
        )
        response = await self._course.save_course_changes(request, ctx)
        await self._fill_missing_media(ctx, response.course)
        # ``s.SaveCourseChangesData``; its edit is kept for the editor's next getCourseEdit.
        return saved_changes_json(self._edit_json.encoded(response.course), dict(response.id_map))

    async def delete_course(self, ctx: ActionContext, data: s.DeleteCourseInput) -> s.Course:
        """Soft delete (``deletedAt`` set); restorable. A published course needs ``force``."""
        request = course_pb2.DeleteCourseRequest(
            course_id=data.course_id, idempotency_key=ctx.service_idempotency_key, force=data.force
        )
        response = await self._course.delete_course(request, ctx)
        return course_data(response.course)

    async def restore_course(self, ctx: ActionContext, data: s.CourseIdInput) -> s.Course:
        """Bring a soft-deleted course back."""
        request = course_pb2.RestoreCourseRequest(course_id=data.course_id, idempotency_key=ctx.service_idempotency_key)
        response = await self._course.restore_course(request, ctx)
        return course_data(response.course)

    async def publish_course(self, ctx: ActionContext, data: s.PublishCourseInput) -> s.Course:
        """Publish at the expected version; refused while a lesson's media is not ready."""
        request = course_pb2.PublishCourseRequest(
            course_id=data.course_id,
            expected_version=data.expected_version,
            idempotency_key=ctx.service_idempotency_key,
        )
        response = await self._course.publish_course(request, ctx)
        return course_data(response.course)

    async def unpublish_course(self, ctx: ActionContext, data: s.PublishCourseInput) -> s.Course:
        """Take a course out of publication at the expected version."""
        request = course_pb2.UnpublishCourseRequest(
            course_id=data.course_id,
            expected_version=data.expected_version,
            idempotency_key=ctx.service_idempotency_key,
        )
        response = await self._course.unpublish_course(request, ctx)
        return course_data(response.course)

    async def _fill_missing_media(self, ctx: ActionContext, edit: course_pb2.CourseEdit) -> None:
        """Course normally joins media summaries itself; when it could not (media was down when it
        asked), ask media once for all of them. A failure leaves ``media: null``, never fails the read."""
        missing = [
            lesson
            for chapter in edit.chapters
            for lesson in chapter.lessons
            if lesson.HasField("media_id") and not lesson.HasField("media")
        ]
        if not missing or self._media is None:
            return
        ids = sorted({lesson.media_id for lesson in missing})
        try:
            response = await self._media.batch_get_media_summaries(
                media_pb2.BatchGetMediaSummariesRequest(media_ids=ids), ctx
            )
        except DomainError as exc:
            log.warning("media summaries unavailable for the editor view: %s", exc.code)
            return
        by_id = {item.id: item for item in response.items}
        for lesson in missing:
            item = by_id.get(lesson.media_id)
            if item is None:
                continue
            summary = course_pb2.MediaSummary(
                id=item.id,
                file_name=item.file_name,
                status=_MEDIA_STATUS.get(item.status, "processing"),
                size_bytes=item.size_bytes,
            )
            if item.HasField("duration_seconds"):
                summary.duration_seconds = item.duration_seconds
            lesson.media.CopyFrom(summary)

    def actions(self) -> list[Action]:
        return [*self._editing_actions(), *self._lifecycle_actions()]

    def _editing_actions(self) -> list[Action]:
        tag = "courses"
        return [
            Action("createCourse", s.CreateCourseInput, s.Course, self.create_course, True, "Create a course.", tag),
            Action(
                "listMyCourses",
                s.ListMyCoursesInput,
                s.CourseList,
                self.list_my_courses,
                False,
                "The caller's courses.",
                tag,
            ),
            Action(
                "getCourseEdit",
                s.GetCourseEditInput,
                s.CourseEdit,
                self.get_course_edit,
                False,
                "A course with its chapters, lessons and each lesson's media.",
                tag,
            ),
            Action(
                "updateCourse",
                s.UpdateCourseInput,
                s.Course,
                self.update_course,
                True,
                "Change a course's title or description at the version it was read.",
                tag,
            ),
            Action(
                "saveCourseChanges",
                s.SaveCourseChangesInput,
                s.SaveCourseChangesData,
                self.save_course_changes,
                True,
                "Apply a batch of edits in one transaction, or none.",
                tag,
                union_tags=s.OPERATION_TAGS,
            ),
        ]

    def _lifecycle_actions(self) -> list[Action]:
        tag = "courses"
        return [
            Action(
                "deleteCourse",
                s.DeleteCourseInput,
                s.Course,
                self.delete_course,
                True,
                "Soft-delete a course (a published one only with force).",
                tag,
            ),
            Action(
                "restoreCourse",
                s.CourseIdInput,
                s.Course,
                self.restore_course,
                True,
                "Restore a soft-deleted course.",
                tag,
            ),
            Action(
                "publishCourse",
                s.PublishCourseInput,
                s.Course,
                self.publish_course,
                True,
                "Publish a course whose lessons' media is all ready (owner or editor).",
                tag,
            ),
            Action(
                "unpublishCourse",
                s.PublishCourseInput,
                s.Course,
                self.unpublish_course,
                True,
                "Take a course out of publication (owner or editor).",
                tag,
            ),
        ]
