"""The analytics database: fact tables folded from other services' events, and engagement facts.

Facts, not rollups: the dashboards aggregate these tables per request (then cache the answer per
domain), which stays exact under redelivery and out-of-order ownership changes. Daily rollups would
be added only for a query that needs them; none does at this size.

Rows for hard-deleted or purged media stay (``purged_at`` set) so storage growth over past days
still counts the bytes that were added then.
"""

from __future__ import annotations

from datetime import datetime

from lectern_common.db import new_metadata
from sqlalchemy import BigInteger, DateTime, Float, Index, String, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(128)
OWNER = String(200)


class Base(DeclarativeBase):
    metadata = new_metadata()


class MediaFileFact(Base):
    """One media file as media last described it (by version), with its lifecycle times."""

    __tablename__ = "media_files"

    media_id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(OWNER, nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    file_name: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    mime_type: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    status: Mapped[str] = mapped_column(String(32), nullable=False, server_default="processing")
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    usage_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_media_files_owner_created", "owner_id", "created_at"),)


class MediaLinkFact(Base):
    """A link from a media file to a course, chapter or lesson (media.link.added/removed)."""

    __tablename__ = "media_links"

    media_id: Mapped[str] = mapped_column(ID, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ID, primary_key=True)
    course_id: Mapped[str] = mapped_column(ID, nullable=False)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_media_links_course", "course_id", "media_id"),)


class CourseFact(Base):
    __tablename__ = "courses"

    course_id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(OWNER, nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_courses_owner", "owner_id"),)


class LessonFact(Base):
    """A live lesson and the media it holds; a removed lesson's row is deleted."""

    __tablename__ = "lessons"

    lesson_id: Mapped[str] = mapped_column(ID, primary_key=True)
    course_id: Mapped[str] = mapped_column(ID, nullable=False)
    chapter_id: Mapped[str] = mapped_column(ID, nullable=False, server_default="")
    title: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    media_id: Mapped[str | None] = mapped_column(ID)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_lessons_course", "course_id"),)


class EngagementFact(Base):
    """One player or sales fact; its id is the id of the engagement.recorded event that carries it."""

    __tablename__ = "engagement_events"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(OWNER, nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    course_id: Mapped[str] = mapped_column(ID, nullable=False)
    lesson_id: Mapped[str | None] = mapped_column(ID)
    media_id: Mapped[str | None] = mapped_column(ID)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    value: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))

    # The dashboards' columns ride in the index: a course's range is an index-only scan (migration 0002).
    __table_args__ = (
        Index(
            "ix_engagement_events_course_at_figures",
            "course_id",
            "at",
            postgresql_include=["type", "value", "lesson_id", "media_id"],
        ),
    )
