"""What goes in and out of the upload service (no transport types here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lectern_upload.models import UploadRow


class UploadStatus(StrEnum):
    PENDING = "pending"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class MediaOutcome(StrEnum):
    """What media made of a stored upload, from its ``media.file.*`` events."""

    REGISTERED = "registered"  # the file exists (media id known), still processing
    READY = "ready"
    FAILED = "failed"


ACTIVE = (UploadStatus.PENDING, UploadStatus.UPLOADING)
# Every byte is in S3: ``processing`` until media made the file ready, then ``completed``.
BYTES_STORED = (UploadStatus.PROCESSING, UploadStatus.COMPLETED)
# Uploads that count against the byte quota: everything that is or will be stored.
STORED_OR_STORING = (UploadStatus.PENDING, UploadStatus.UPLOADING, UploadStatus.PROCESSING, UploadStatus.COMPLETED)


class BodyInterrupted(Exception):
    """The client went away in the middle of a PATCH body (the transport raises it)."""


@dataclass(frozen=True)
class NewUpload:
    file_name: str
    size_bytes: int | None  # None: Upload-Defer-Length
    mime_type: str
    course_id: str | None = None
    chapter_id: str | None = None
    lesson_title: str | None = None
    tus_metadata: str | None = None


@dataclass(frozen=True)
class UploadView:
    id: str
    owner_id: str
    status: UploadStatus
    offset: int
    size_bytes: int | None
    file_name: str
    mime_type: str
    course_id: str | None
    chapter_id: str | None
    lesson_title: str | None
    tus_metadata: str | None
    checksum: str | None
    storage_key: str
    bucket: str
    error: str | None
    media_id: str | None
    created_at: datetime
    expires_at: datetime

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @classmethod
    def of(cls, row: UploadRow) -> UploadView:
        return cls(
            id=row.id,
            owner_id=row.owner_id,
            status=UploadStatus(row.status),
            offset=row.offset,
            size_bytes=row.size_bytes,
            file_name=row.file_name,
            mime_type=row.mime_type,
            course_id=row.course_id,
            chapter_id=row.chapter_id,
            lesson_title=row.lesson_title,
            tus_metadata=row.tus_metadata,
            checksum=row.checksum,
            storage_key=row.storage_key,
            bucket=row.bucket,
            error=row.error,
            media_id=row.media_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )


@dataclass(frozen=True)
class CreatedUpload:
    upload: UploadView
    upload_url: str
    upload_token: str
    chunk_size_bytes: int


@dataclass(frozen=True)
class ChunkChecksum:
    """An Upload-Checksum header: algorithm and the expected digest (raw bytes)."""

    algorithm: str
    digest: bytes
