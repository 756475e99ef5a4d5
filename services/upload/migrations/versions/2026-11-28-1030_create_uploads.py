"""create uploads

Revision ID: 0001_create_uploads
Revises:
Create Date: 2026-11-28 10:30
"""

import sqlalchemy as sa
from alembic import op
from lectern_common.migrations import create_plumbing_tables, drop_plumbing_tables
from sqlalchemy.dialects import postgresql

revision = "0001_create_uploads"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_tables()
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("mime_type", sa.String(200), nullable=False),
        sa.Column("course_id", sa.String(200), nullable=True),
        sa.Column("chapter_id", sa.String(200), nullable=True),
        sa.Column("lesson_title", sa.String(500), nullable=True),
        sa.Column("tus_metadata", sa.Text(), nullable=True),
        sa.Column("creation_token_id", sa.String(64), nullable=True),
        sa.Column("bucket", sa.String(200), nullable=False),
        sa.Column("storage_key", sa.String(500), nullable=False),
        sa.Column("s3_upload_id", sa.String(500), nullable=True),
        sa.Column("parts", postgresql.JSONB(), nullable=False),
        sa.Column("tail_size", sa.BigInteger(), nullable=False),
        sa.Column("hash_state", sa.LargeBinary(), nullable=True),
        sa.Column("checksum", sa.String(100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    op.create_index(op.f("ix_uploads_owner_id"), "uploads", ["owner_id"])
    op.create_index(op.f("ix_uploads_status"), "uploads", ["status"])
    op.create_index(op.f("ix_uploads_course_id"), "uploads", ["course_id"])
    op.create_index(op.f("ix_uploads_expires_at"), "uploads", ["expires_at"])


def downgrade() -> None:
    op.drop_table("uploads")
    drop_plumbing_tables()
