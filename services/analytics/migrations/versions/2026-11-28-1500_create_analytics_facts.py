"""create the fact tables (media files, links, courses, lessons, engagement) and the plumbing tables

Revision ID: 0001_create_analytics_facts
Revises:
Create Date: 2026-11-28 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from lectern_common.migrations import create_plumbing_tables, drop_plumbing_tables

revision: str = "0001_create_analytics_facts"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")
ID = sa.String(128)
OWNER = sa.String(200)


def upgrade() -> None:
    create_plumbing_tables()
    op.create_table(
        "media_files",
        sa.Column("media_id", ID, nullable=False),
        sa.Column("owner_id", OWNER, nullable=False),
        sa.Column("title", sa.String(500), server_default="", nullable=False),
        sa.Column("file_name", sa.String(500), server_default="", nullable=False),
        sa.Column("mime_type", sa.String(200), server_default="", nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(32), server_default="processing", nullable=False),
        sa.Column("duration_seconds", sa.Float()),
        sa.Column("usage_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Column("purged_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("media_id", name=op.f("pk_media_files")),
    )
    op.create_index("ix_media_files_owner_created", "media_files", ["owner_id", "created_at"])
    op.create_table(
        "media_links",
        sa.Column("media_id", ID, nullable=False),
        sa.Column("resource_type", sa.String(16), nullable=False),
        sa.Column("resource_id", ID, nullable=False),
        sa.Column("course_id", ID, nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("media_id", "resource_type", "resource_id", name=op.f("pk_media_links")),
    )
    op.create_index("ix_media_links_course", "media_links", ["course_id", "media_id"])
    op.create_table(
        "courses",
        sa.Column("course_id", ID, nullable=False),
        sa.Column("owner_id", OWNER, nullable=False),
        sa.Column("title", sa.String(500), server_default="", nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_courses")),
    )
    op.create_index("ix_courses_owner", "courses", ["owner_id"])
    op.create_table(
        "lessons",
        sa.Column("lesson_id", ID, nullable=False),
        sa.Column("course_id", ID, nullable=False),
        sa.Column("chapter_id", ID, server_default="", nullable=False),
        sa.Column("title", sa.String(500), server_default="", nullable=False),
        sa.Column("media_id", ID),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("lesson_id", name=op.f("pk_lessons")),
    )
    op.create_index("ix_lessons_course", "lessons", ["course_id"])
    op.create_table(
        "engagement_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", OWNER, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("course_id", ID, nullable=False),
        sa.Column("lesson_id", ID),
        sa.Column("media_id", ID),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_events")),
    )
    op.create_index("ix_engagement_events_course_at", "engagement_events", ["course_id", "at"])


def downgrade() -> None:
    op.drop_table("engagement_events")
    op.drop_table("lessons")
    op.drop_table("courses")
    op.drop_table("media_links")
    op.drop_table("media_files")
    drop_plumbing_tables()
