"""The upload service's tables (its own database; nobody else reads them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lectern_common.db import new_metadata
from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = new_metadata()


class UploadRow(Base):
    """One tus upload and everything needed to resume it on any replica.

    Invariant: ``offset == sum(part sizes) + tail_size``. ``parts`` are the S3 multipart parts
    already uploaded (number, etag, size); ``tail_size`` bytes past them live in the
    ``<storage_key>.part`` object; ``hash_state`` is the SHA-256 state after exactly the bytes of
    ``parts`` (the tail is re-read and re-hashed on resume), see storage/sha256state.py.
    """

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)  # None while Upload-Defer-Length
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    file_name: Mapped[str] = mapped_column(String(500))
    mime_type: Mapped[str] = mapped_column(String(200))
    course_id: Mapped[str | None] = mapped_column(String(200), index=True)
    chapter_id: Mapped[str | None] = mapped_column(String(200))
    lesson_title: Mapped[str | None] = mapped_column(String(500))
    tus_metadata: Mapped[str | None] = mapped_column(Text)  # the raw Upload-Metadata header
    creation_token_id: Mapped[str | None] = mapped_column(String(64))
    bucket: Mapped[str] = mapped_column(String(200))
    storage_key: Mapped[str] = mapped_column(String(500))
    s3_upload_id: Mapped[str | None] = mapped_column(String(500))
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    tail_size: Mapped[int] = mapped_column(BigInteger, default=0)
    hash_state: Mapped[bytes | None] = mapped_column(LargeBinary)
    checksum: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    # The media file media made from this upload (learnt from lectern.media.v1, see
    # transport/consumers.py); None until media registered it.
    media_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
