"""The course database: courses, their editors, chapters, lessons, and a read model of media.

Chapters and lessons are soft deleted on their own (``deleted_at``); deleting a course only marks
the course, so restoring it brings back exactly what was live when it went, and never a chapter
that had been deleted separately. Positions are dense, 0-based, among the live rows of a parent.
"""

from __future__ import annotations

from datetime import datetime

from lectern_common.db import new_metadata
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(36)


class Base(DeclarativeBase):
    metadata = new_metadata()


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(200), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="1")
    published: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # When the course was last published; cleared when it is unpublished.
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_courses_owner_created", "owner_id", "created_at", "id"),)


class CourseEditor(Base):
    """A co-instructor: may read and edit, never delete, restore or add editors."""

    __tablename__ = "course_editors"

    course_id: Mapped[str] = mapped_column(ID, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_course_editors_user_id", "user_id"),)


class Chapter(Base):
    __tablename__ = "chapters"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    course_id: Mapped[str] = mapped_column(ID, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_chapters_live_by_course", "course_id", "position", postgresql_where=text("deleted_at IS NULL")),
    )


class Lesson(Base):
    __tablename__ = "lessons"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    course_id: Mapped[str] = mapped_column(ID, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False)
    chapter_id: Mapped[str] = mapped_column(ID, ForeignKey("chapters.id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    media_id: Mapped[str | None] = mapped_column(String(64))
    # The upload that created this lesson, so a redelivered media.file.ready adds nothing.
    upload_operation_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(
            "ix_lessons_live_by_course",
            "course_id",
            "chapter_id",
            "position",
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_lessons_id_by_chapter", "chapter_id"),
    )


class MediaSummary(Base):
    """What course knows of a media file, filled from ``lectern.media.v1`` events, so the editor
    tree is read without calling media at all."""

    __tablename__ = "media_summaries"

    media_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(200), nullable=False)
    file_name: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    # soft_deleted hides the summary until media.file.restored; hard_deleted/purged hide it for good.
    gone: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class MediaReadStamp(Base):
    """One row whose ``stamp`` every change to ``media_summaries`` bumps in the same transaction.

    A cached editor tree is keyed by its course's version and this stamp (courses.edit_cache):
    lessons change only with the course version, but a lesson's media summary changes with media
    events, which never touch the course. One stamp for all of media keeps that exact without
    tracking which courses a media file appears in; media changes are rare next to reads.
    """

    __tablename__ = "media_read_stamp"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    stamp: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)
