"""What the library answers and accepts, independent of any transport."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class MediaStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class MediaView:
    id: str
    owner_id: str
    title: str
    file_name: str
    mime_type: str
    size_bytes: int
    checksum: str
    status: MediaStatus
    usage_count: int
    version: int
    created_at: datetime
    deleted_at: datetime | None
    duration_seconds: float | None
    error: str | None = None
    probe: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        """API-shaped (camelCase) form, for error details such as a conflict's ``current``."""
        return {
            "id": self.id,
            "title": self.title,
            "fileName": self.file_name,
            "mimeType": self.mime_type,
            "sizeBytes": self.size_bytes,
            "checksum": self.checksum,
            "status": self.status.value,
            "usageCount": self.usage_count,
            "version": self.version,
            "createdAt": self.created_at.isoformat(),
            "deletedAt": self.deleted_at.isoformat() if self.deleted_at else None,
        }


@dataclass(frozen=True)
class MediaSummaryView:
    id: str
    file_name: str
    status: MediaStatus
    size_bytes: int
    duration_seconds: float | None


@dataclass(frozen=True)
class ListQuery:
    query: str = ""
    status: MediaStatus | None = None
    include_deleted: bool = False
    cursor: str = ""
    limit: int = 0


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str


@dataclass(frozen=True)
class CompletedUpload:
    """The facts of an ``upload.completed`` event that make a media file."""

    operation_id: str
    owner_id: str
    file_name: str
    mime_type: str
    size_bytes: int
    bucket: str
    storage_key: str
    checksum: str
    course_id: str | None = None
    chapter_id: str | None = None
    lesson_title: str | None = None
