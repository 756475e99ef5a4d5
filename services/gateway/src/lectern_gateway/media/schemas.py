"""Media library actions: inputs and ``data`` (API.md §1 "Media library")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from lectern_gateway.actions.schemas import (
    Cursor,
    DataModel,
    Identifier,
    InputModel,
    PageLimit,
    Query,
    Title,
    Version,
)

MediaStatus = Literal["processing", "ready", "failed"]
ResourceType = Literal["course", "chapter", "lesson"]

# ---- inputs -------------------------------------------------------------------------------------


class ListMediaInput(InputModel):
    query: Query | None = None
    status: MediaStatus | None = None
    include_deleted: bool = False
    cursor: Cursor | None = None
    limit: PageLimit | None = None


class MediaIdInput(InputModel):
    media_id: Identifier


class MediaPatchInput(InputModel):
    title: Title | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> MediaPatchInput:
        if self.title is None:
            raise ValueError("name at least one field to change")
        return self


class UpdateMediaInput(InputModel):
    media_id: Identifier
    expected_version: Version
    patch: MediaPatchInput


class LinkMediaInput(InputModel):
    media_id: Identifier
    resource_type: ResourceType
    resource_id: Identifier


class DeleteMediaInput(InputModel):
    media_id: Identifier
    mode: Literal["soft", "hard"]
    force: bool = False
    dry_run: bool = False


class RestoreMediaInput(InputModel):
    media_id: Identifier
    restore_links: bool = False


class GetMediaAuditInput(InputModel):
    media_id: Identifier
    cursor: Cursor | None = None
    limit: PageLimit | None = None


# ---- data ---------------------------------------------------------------------------------------


class MediaProbe(DataModel):
    """What probing found in the file's bytes."""

    container: str = Field(description='FFmpeg\'s name for the container, e.g. "mov,mp4,m4a,3gp,3g2,mj2"; "pdf".')
    duration_seconds: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None


class Media(DataModel):
    id: str
    title: str
    file_name: str
    mime_type: str
    size_bytes: int
    checksum: str = Field(description='"sha256:<hex>"')
    status: MediaStatus
    usage_count: int
    version: int
    duration_seconds: float | None
    error: str | None = Field(description="Why the file is failed, in words its owner can read; null otherwise.")
    probe: MediaProbe | None = Field(description="What probing found; null while processing or when failed.")
    created_at: datetime
    deleted_at: datetime | None


class Link(DataModel):
    media_id: str
    resource_type: ResourceType
    resource_id: str
    course_id: str
    linked_by: str
    linked_at: datetime


class MediaWithLinks(Media):
    links: list[Link]


class MediaList(DataModel):
    items: list[Media]
    next_cursor: str | None


class MediaUsage(DataModel):
    count: int
    links: list[Link]


class Unlinked(DataModel):
    removed: bool


class AffectedCourse(DataModel):
    course_id: str
    title: str
    published: bool
    link_count: int


class DeleteMediaData(DataModel):
    media: Media
    removed_links: list[Link]
    affected_courses: list[AffectedCourse]
    bytes_reclaimed: int | None
    dry_run: bool


class SkippedLink(DataModel):
    link: Link
    reason: str


class RestoreMediaData(DataModel):
    media: Media
    restored_links: list[Link]
    skipped_links: list[SkippedLink]


class AuditEntry(DataModel):
    action: str
    actor: str
    at: datetime
    details: dict[str, Any]


class AuditPage(DataModel):
    items: list[AuditEntry]
    next_cursor: str | None
