"""Upload actions: inputs and ``data`` (API.md §1 "Uploads")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from lectern_gateway.actions.schemas import DataModel, Identifier, InputModel, Title

UploadStatus = Literal["pending", "uploading", "processing", "completed", "failed", "expired", "cancelled"]
FileName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\x00/\\]+$")
]
MimeType = Annotated[
    str,
    StringConstraints(max_length=127, pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$"),
]


class StartUploadInput(InputModel):
    file_name: FileName
    size_bytes: Annotated[int, Field(ge=1, le=2**53)]
    mime_type: MimeType
    course_id: Identifier | None = None
    chapter_id: Identifier | None = Field(default=None, description="Completion adds a lesson here (needs courseId).")
    lesson_title: Title | None = Field(default=None, description="The new lesson's title (default: the file name).")

    @model_validator(mode="after")
    def _target_is_whole(self) -> StartUploadInput:
        if self.chapter_id is not None and self.course_id is None:
            raise ValueError("chapterId needs courseId")
        if self.lesson_title is not None and self.chapter_id is None:
            raise ValueError("lessonTitle needs chapterId")
        return self


class OperationIdInput(InputModel):
    operation_id: Identifier


class ListUploadsInput(InputModel):
    course_id: Identifier | None = None
    status: UploadStatus | None = None


class StartedUpload(DataModel):
    operation_id: str
    upload_url: str = Field(description="The tus 1.0 upload URL: PATCH the bytes here.")
    upload_token: str = Field(description="Bearer token for uploadUrl, scoped to this upload.")
    expires_at: datetime
    chunk_size_bytes: int


class ResumedUpload(DataModel):
    operation_id: str
    upload_url: str = Field(description="The tus 1.0 upload URL: HEAD it, then PATCH from its offset.")
    upload_token: str = Field(description="A fresh bearer token for uploadUrl, scoped to this upload.")
    offset: int = Field(description="Bytes already stored: the offset to resume from.")
    size_bytes: int = Field(description="The upload's length (0 while it is deferred).")
    expires_at: datetime
    chunk_size_bytes: int


class Upload(DataModel):
    operation_id: str
    status: UploadStatus = Field(
        description="processing: every byte is stored and media is making the file; completed: the file "
        "is ready (mediaId names it); failed: storing it or making the file failed (error says why)."
    )
    offset: int
    size_bytes: int
    file_name: str
    mime_type: str
    course_id: str | None
    chapter_id: str | None
    media_id: str | None = Field(description="The media file this upload became, once media registered it.")
    error: str | None = Field(description="Why the upload failed, readable by its owner.")
    created_at: datetime
    expires_at: datetime


class UploadList(DataModel):
    items: list[Upload]


class CancelledUpload(DataModel):
    operation_id: str
    status: UploadStatus
