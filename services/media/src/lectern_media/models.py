"""The media database: files, links, audit trail, deletion snapshots, course-delete tombstones and the
queue of object-store deletions. One MetaData for this service only (its own database)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lectern_common.db import new_metadata
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = new_metadata()


class MediaFile(Base):
    __tablename__ = "media_files"

    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(200), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    file_name: Mapped[str] = mapped_column(String(255), nullable=False)
    mime_type: Mapped[str] = mapped_column(String(200), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    checksum: Mapped[str] = mapped_column(String(100), nullable=False)
    bucket: Mapped[str] = mapped_column(String(100), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(1024), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    # What probing found in the bytes (container, picture size, codecs, streams), and why a failed
    # file is failed, in words its owner can read.
    probe: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    # Kept in the same transaction as every link insert/delete, so reads never count rows.
    usage_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    upload_operation_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(String(200))
    # lower(title || ' ' || file_name), stored so one trigram GIN index serves search on both.
    search_text: Mapped[str] = mapped_column(
        Text, Computed("lower(title || ' ' || file_name)", persisted=True), nullable=False
    )

    __table_args__ = (
        CheckConstraint("status IN ('processing', 'ready', 'failed')", name="status"),
        CheckConstraint("usage_count >= 0", name="usage_count_not_negative"),
        CheckConstraint("size_bytes >= 0", name="size_not_negative"),
        # Listing: one owner's files, newest first, keyset-paginated on (created_at, id).
        Index("ix_media_files_owner_created", "owner_id", text("created_at DESC"), text("id DESC")),
        Index(
            "ix_media_files_search_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        # The purge job's scan: only soft-deleted rows, oldest first.
        Index("ix_media_files_deleted_at", "deleted_at", postgresql_where=text("deleted_at IS NOT NULL")),
    )


class MediaLink(Base):
    __tablename__ = "media_links"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    # RESTRICT: the database itself refuses to drop a file that still has links (delete protection
    # holds even against a bug in the service's locking).
    media_id: Mapped[str] = mapped_column(
        UUID(as_uuid=False), ForeignKey("media_files.id", ondelete="RESTRICT"), nullable=False
    )
    resource_type: Mapped[str] = mapped_column(String(20), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(200), nullable=False)
    course_id: Mapped[str] = mapped_column(String(200), nullable=False)
    linked_by: Mapped[str] = mapped_column(String(200), nullable=False)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        UniqueConstraint("media_id", "resource_type", "resource_id"),
        CheckConstraint("resource_type IN ('course', 'chapter', 'lesson')", name="resource_type"),
        Index("ix_media_links_target", "resource_type", "resource_id"),
        Index("ix_media_links_course_id", "course_id"),
    )


class AuditEntry(Base):
    """Append-only (a trigger refuses UPDATE and DELETE). No foreign key: the history of a file
    outlives the file."""

    __tablename__ = "media_audit"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    media_id: Mapped[str] = mapped_column(UUID(as_uuid=False), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    actor_id: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))

    __table_args__ = (Index("ix_media_audit_media_id_id", "media_id", text("id DESC")),)


class DeletionSnapshot(Base):
    """The links a file had when it was soft deleted, so a restore can bring them back."""

    __tablename__ = "media_deletion_snapshots"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    media_id: Mapped[str] = mapped_column(
        UUID(as_uuid=False), ForeignKey("media_files.id", ondelete="CASCADE"), nullable=False
    )
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    taken_by: Mapped[str] = mapped_column(String(200), nullable=False)
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_media_deletion_snapshots_media_id", "media_id", text("id DESC")),)


class CourseLinkTombstone(Base):
    """A link removed because its course was deleted; course.restored brings it back."""

    __tablename__ = "media_course_link_tombstones"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(200), nullable=False)
    media_id: Mapped[str] = mapped_column(
        UUID(as_uuid=False), ForeignKey("media_files.id", ondelete="CASCADE"), nullable=False
    )
    resource_type: Mapped[str] = mapped_column(String(20), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(200), nullable=False)
    linked_by: Mapped[str] = mapped_column(String(200), nullable=False)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    removed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_media_course_link_tombstones_course_id", "course_id"),)


class ObjectDeletion(Base):
    """Bytes to delete from the object store once the row that owned them is gone: written in the
    same transaction as the hard delete, so a crash between commit and S3 leaves a retryable task
    instead of an orphaned object."""

    __tablename__ = "media_object_deletions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    media_id: Mapped[str] = mapped_column(UUID(as_uuid=False), nullable=False)
    bucket: Mapped[str] = mapped_column(String(100), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(1024), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    attempts: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))


class ProbeJob(Base):
    """A file waiting to be probed, written in the transaction that registers it (so no file is
    left processing for good). A worker leases a job (``lease_until``); a worker that died mid-probe
    lets the lease run out and another takes the job again."""

    __tablename__ = "media_probe_jobs"

    media_id: Mapped[str] = mapped_column(
        UUID(as_uuid=False), ForeignKey("media_files.id", ondelete="CASCADE"), primary_key=True
    )
    attempts: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Where the upload asked the file to go (course_id, chapter_id, lesson_title): media.file.ready
    # carries it, so course adds the lesson only once the file is known to be what it claims.
    upload_target: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_media_probe_jobs_not_before", "not_before"),)
