"""Upload actions: ownership checked with course, then upload's control API."""

from __future__ import annotations

from lectern.course.v1 import course_pb2
from lectern.upload.v1 import upload_pb2

from lectern_gateway.actions.registry import Action, ActionContext
from lectern_gateway.peers import CoursePeer, UploadPeer
from lectern_gateway.proto_time import to_datetime
from lectern_gateway.uploads import schemas as s

_STATUS = {
    upload_pb2.UPLOAD_STATUS_PENDING: "pending",
    upload_pb2.UPLOAD_STATUS_UPLOADING: "uploading",
    upload_pb2.UPLOAD_STATUS_PROCESSING: "processing",
    upload_pb2.UPLOAD_STATUS_COMPLETED: "completed",
    upload_pb2.UPLOAD_STATUS_FAILED: "failed",
    upload_pb2.UPLOAD_STATUS_EXPIRED: "expired",
    upload_pb2.UPLOAD_STATUS_CANCELLED: "cancelled",
}
_STATUS_IN = {name: value for value, name in _STATUS.items()}


def _optional(message: upload_pb2.Upload, field: str) -> str | None:
    return getattr(message, field) if message.HasField(field) else None  # type: ignore[arg-type]


def upload_data(upload: upload_pb2.Upload) -> s.Upload:
    return s.Upload(
        operation_id=upload.operation_id,
        status=_STATUS.get(upload.status, "pending"),  # type: ignore[arg-type]
        offset=upload.offset,
        size_bytes=upload.size_bytes,
        file_name=upload.file_name,
        mime_type=upload.mime_type,
        course_id=_optional(upload, "course_id"),
        chapter_id=_optional(upload, "chapter_id"),
        media_id=_optional(upload, "media_id"),
        error=_optional(upload, "error"),
        created_at=to_datetime(upload.created_at),
        expires_at=to_datetime(upload.expires_at),
    )


class UploadActions:
    def __init__(self, upload: UploadPeer, course: CoursePeer) -> None:
        self._upload = upload
        self._course = course

    async def start_upload(self, ctx: ActionContext, data: s.StartUploadInput) -> s.StartedUpload:
        """Check the caller may edit the target course (and chapter), then create the tus upload."""
        if data.course_id is not None:
            access = course_pb2.CheckCourseAccessRequest(course_id=data.course_id)
            if data.chapter_id is not None:
                access.chapter_id = data.chapter_id
            await self._course.check_course_access(access, ctx)
        request = upload_pb2.CreateUploadRequest(
            file_name=data.file_name,
            size_bytes=data.size_bytes,
            mime_type=data.mime_type,
            idempotency_key=ctx.service_idempotency_key,
        )
        if data.course_id is not None:
            request.course_id = data.course_id
        if data.chapter_id is not None:
            request.chapter_id = data.chapter_id
        if data.lesson_title is not None:
            request.lesson_title = data.lesson_title
        response = await self._upload.create_upload(request, ctx)
        return s.StartedUpload(
            operation_id=response.operation_id,
            upload_url=response.upload_url,
            upload_token=response.upload_token,
            expires_at=to_datetime(response.expires_at),
            chunk_size_bytes=response.chunk_size_bytes,
        )

    async def get_upload(self, ctx: ActionContext, data: s.OperationIdInput) -> s.Upload:
        """One upload's state (offset, status, media id once completed)."""
        response = await self._upload.get_upload(upload_pb2.GetUploadRequest(operation_id=data.operation_id), ctx)
        return upload_data(response.upload)

    async def list_uploads(self, ctx: ActionContext, data: s.ListUploadsInput) -> s.UploadList:
        """The caller's uploads, optionally of one course or in one status."""
        request = upload_pb2.ListUploadsRequest(
            status=_STATUS_IN[data.status] if data.status else upload_pb2.UPLOAD_STATUS_UNSPECIFIED
        )
        if data.course_id is not None:
            request.course_id = data.course_id
        response = await self._upload.list_uploads(request, ctx)
        return s.UploadList(items=[upload_data(item) for item in response.items])

    async def resume_upload(self, ctx: ActionContext, data: s.OperationIdInput) -> s.ResumedUpload:
        """Its owner's way back into an unfinished upload from another device: URL, fresh token, offset."""
        response = await self._upload.resume_upload(upload_pb2.ResumeUploadRequest(operation_id=data.operation_id), ctx)
        return s.ResumedUpload(
            operation_id=response.operation_id,
            upload_url=response.upload_url,
            upload_token=response.upload_token,
            offset=response.offset,
            size_bytes=response.size_bytes,
            expires_at=to_datetime(response.expires_at),
            chunk_size_bytes=response.chunk_size_bytes,
        )

    async def cancel_upload(self, ctx: ActionContext, data: s.OperationIdInput) -> s.CancelledUpload:
        """Stop an upload in flight and free what it stored."""
        request = upload_pb2.CancelUploadRequest(
            operation_id=data.operation_id, idempotency_key=ctx.service_idempotency_key
        )
        response = await self._upload.cancel_upload(request, ctx)
        return s.CancelledUpload(
            operation_id=response.upload.operation_id or data.operation_id,
            status=_STATUS.get(response.upload.status, "cancelled"),  # type: ignore[arg-type]
        )

    def actions(self) -> list[Action]:
        tag = "uploads"
        return [
            Action(
                "startUpload",
                s.StartUploadInput,
                s.StartedUpload,
                self.start_upload,
                True,
                "Create an upload; answers the tus URL and a token scoped to it.",
                tag,
            ),
            Action("getUpload", s.OperationIdInput, s.Upload, self.get_upload, False, "One upload's state.", tag),
            Action(
                "listUploads", s.ListUploadsInput, s.UploadList, self.list_uploads, False, "The caller's uploads.", tag
            ),
            Action(
                "resumeUpload",
                s.OperationIdInput,
                s.ResumedUpload,
                self.resume_upload,
                False,
                "An unfinished upload's URL, a fresh token and its offset (finish it from another device).",
                tag,
            ),
            Action(
                "cancelUpload",
                s.OperationIdInput,
                s.CancelledUpload,
                self.cancel_upload,
                True,
                "Cancel an upload in flight.",
                tag,
            ),
        ]
