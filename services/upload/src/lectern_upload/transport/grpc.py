"""UploadService over gRPC: proto <-> schema mapping only."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from lectern.upload.v1 import upload_pb2, upload_pb2_grpc
from lectern_common.identity import require_identity

from lectern_upload.uploads.schemas import NewUpload, UploadStatus, UploadView
from lectern_upload.uploads.service import UploadService

_STATUS_TO_PROTO = {
    UploadStatus.PENDING: upload_pb2.UPLOAD_STATUS_PENDING,
    UploadStatus.UPLOADING: upload_pb2.UPLOAD_STATUS_UPLOADING,
    UploadStatus.PROCESSING: upload_pb2.UPLOAD_STATUS_PROCESSING,
    UploadStatus.COMPLETED: upload_pb2.UPLOAD_STATUS_COMPLETED,
    UploadStatus.FAILED: upload_pb2.UPLOAD_STATUS_FAILED,
    UploadStatus.EXPIRED: upload_pb2.UPLOAD_STATUS_EXPIRED,
    UploadStatus.CANCELLED: upload_pb2.UPLOAD_STATUS_CANCELLED,
}
_STATUS_FROM_PROTO = {v: k for k, v in _STATUS_TO_PROTO.items()}


def _timestamp(value: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def upload_to_proto(view: UploadView) -> upload_pb2.Upload:
    message = upload_pb2.Upload(
        operation_id=view.id,
        owner_id=view.owner_id,
        status=_STATUS_TO_PROTO[view.status],
        offset=view.offset,
        size_bytes=view.size_bytes or 0,
        file_name=view.file_name,
        mime_type=view.mime_type,
        created_at=_timestamp(view.created_at),
        expires_at=_timestamp(view.expires_at),
    )
    if view.course_id:
        message.course_id = view.course_id
    if view.chapter_id:
        message.chapter_id = view.chapter_id
    if view.error:
        message.error = view.error
    if view.media_id:
        message.media_id = view.media_id
    return message


class UploadServicer(upload_pb2_grpc.UploadServiceServicer):
    def __init__(self, service: UploadService) -> None:
        self._service = service

    async def CreateUpload(
        self, request: upload_pb2.CreateUploadRequest, context: Any
    ) -> upload_pb2.CreateUploadResponse:
        identity = require_identity()
        created = await self._service.create(
            identity.user_id,
            NewUpload(
                file_name=request.file_name,
                size_bytes=request.size_bytes,
                mime_type=request.mime_type,
                course_id=request.course_id if request.HasField("course_id") else None,
                chapter_id=request.chapter_id if request.HasField("chapter_id") else None,
                lesson_title=request.lesson_title if request.HasField("lesson_title") else None,
            ),
            idempotency_key=request.idempotency_key or None,
        )
        return upload_pb2.CreateUploadResponse(
            operation_id=created.upload.id,
            upload_url=created.upload_url,
            upload_token=created.upload_token,
            expires_at=_timestamp(created.upload.expires_at),
            chunk_size_bytes=created.chunk_size_bytes,
        )

    async def GetUpload(self, request: upload_pb2.GetUploadRequest, context: Any) -> upload_pb2.GetUploadResponse:
        identity = require_identity()
        view = await self._service.get(identity.user_id, request.operation_id, is_service=identity.is_service)
        return upload_pb2.GetUploadResponse(upload=upload_to_proto(view))

    async def ListUploads(self, request: upload_pb2.ListUploadsRequest, context: Any) -> upload_pb2.ListUploadsResponse:
        identity = require_identity()
        views = await self._service.list(
            identity.user_id,
            course_id=request.course_id if request.HasField("course_id") else None,
            status=_STATUS_FROM_PROTO.get(request.status),
        )
        return upload_pb2.ListUploadsResponse(items=[upload_to_proto(v) for v in views])

    async def CancelUpload(
        self, request: upload_pb2.CancelUploadRequest, context: Any
    ) -> upload_pb2.CancelUploadResponse:
        identity = require_identity()
        view = await self._service.cancel(identity.user_id, request.operation_id, is_service=identity.is_service)
        return upload_pb2.CancelUploadResponse(upload=upload_to_proto(view))

    async def ResumeUpload(
        self, request: upload_pb2.ResumeUploadRequest, context: Any
    ) -> upload_pb2.ResumeUploadResponse:
        identity = require_identity()
        resumed = await self._service.resume(identity.user_id, request.operation_id)
        return upload_pb2.ResumeUploadResponse(
            operation_id=resumed.upload.id,
            upload_url=resumed.upload_url,
            upload_token=resumed.upload_token,
            offset=resumed.upload.offset,
            expires_at=_timestamp(resumed.upload.expires_at),
            chunk_size_bytes=resumed.chunk_size_bytes,
            size_bytes=resumed.upload.size_bytes or 0,
        )
