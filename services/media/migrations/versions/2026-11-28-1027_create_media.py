"""create media: files, links, audit trail (append-only), deletion snapshots, tombstones, object deletions

Revision ID: 0001
Revises:
Create Date: 2026-11-28 10:27:07.679485
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from lectern_common.migrations import create_plumbing_tables, drop_plumbing_tables
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_plumbing_tables()
    # Trigram index for substring search on title and file name (a trusted extension since PG 13).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "media_audit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("media_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("owner_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "details", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_audit")),
    )
    op.create_index(
        "ix_media_audit_media_id_id", "media_audit", ["media_id", sa.literal_column("id DESC")], unique=False
    )
    op.create_table(
        "media_files",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("owner_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("mime_type", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(length=100), nullable=False),
        sa.Column("bucket", sa.String(length=100), nullable=False),
        sa.Column("storage_key", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("usage_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("upload_operation_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.String(length=200), nullable=True),
        sa.Column(
            "search_text", sa.Text(), sa.Computed("lower(title || ' ' || file_name)", persisted=True), nullable=False
        ),
        sa.CheckConstraint("status IN ('processing', 'ready', 'failed')", name=op.f("ck_media_files_status")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_media_files_size_not_negative")),
        sa.CheckConstraint("usage_count >= 0", name=op.f("ck_media_files_usage_count_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_files")),
        sa.UniqueConstraint("upload_operation_id", name=op.f("uq_media_files_upload_operation_id")),
    )
    op.create_index(
        "ix_media_files_deleted_at",
        "media_files",
        ["deleted_at"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    op.create_index(
        "ix_media_files_owner_created",
        "media_files",
        ["owner_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_media_files_search_trgm",
        "media_files",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_table(
        "media_object_deletions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("media_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("bucket", sa.String(length=100), nullable=False),
        sa.Column("storage_key", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("attempts", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_object_deletions")),
    )
    op.create_table(
        "media_course_link_tombstones",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("course_id", sa.String(length=200), nullable=False),
        sa.Column("media_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("resource_type", sa.String(length=20), nullable=False),
        sa.Column("resource_id", sa.String(length=200), nullable=False),
        sa.Column("linked_by", sa.String(length=200), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_files.id"],
            name=op.f("fk_media_course_link_tombstones_media_id_media_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_course_link_tombstones")),
    )
    op.create_index(
        "ix_media_course_link_tombstones_course_id", "media_course_link_tombstones", ["course_id"], unique=False
    )
    op.create_table(
        "media_deletion_snapshots",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("media_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("taken_by", sa.String(length=200), nullable=False),
        sa.Column("links", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_files.id"],
            name=op.f("fk_media_deletion_snapshots_media_id_media_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_deletion_snapshots")),
    )
    op.create_index(
        "ix_media_deletion_snapshots_media_id",
        "media_deletion_snapshots",
        ["media_id", sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_table(
        "media_links",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("media_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("resource_type", sa.String(length=20), nullable=False),
        sa.Column("resource_id", sa.String(length=200), nullable=False),
        sa.Column("course_id", sa.String(length=200), nullable=False),
        sa.Column("linked_by", sa.String(length=200), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "resource_type IN ('course', 'chapter', 'lesson')", name=op.f("ck_media_links_resource_type")
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_files.id"], name=op.f("fk_media_links_media_id_media_files"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_links")),
        sa.UniqueConstraint(
            "media_id", "resource_type", "resource_id", name=op.f("uq_media_links_media_id_resource_type_resource_id")
        ),
    )
    op.create_index("ix_media_links_course_id", "media_links", ["course_id"], unique=False)
    op.create_index("ix_media_links_target", "media_links", ["resource_type", "resource_id"], unique=False)
    # The audit trail is append-only: the database refuses to rewrite history.
    op.execute(
        """
        CREATE FUNCTION media_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'media_audit is append-only';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER media_audit_append_only BEFORE UPDATE OR DELETE ON media_audit "
        "FOR EACH ROW EXECUTE FUNCTION media_audit_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER media_audit_append_only ON media_audit")
    op.execute("DROP FUNCTION media_audit_append_only()")
    op.drop_index("ix_media_links_target", table_name="media_links")
    op.drop_index("ix_media_links_course_id", table_name="media_links")
    op.drop_table("media_links")
    op.drop_index("ix_media_deletion_snapshots_media_id", table_name="media_deletion_snapshots")
    op.drop_table("media_deletion_snapshots")
    op.drop_index("ix_media_course_link_tombstones_course_id", table_name="media_course_link_tombstones")
    op.drop_table("media_course_link_tombstones")
    op.drop_table("media_object_deletions")
    op.drop_index(
        "ix_media_files_search_trgm",
        table_name="media_files",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index("ix_media_files_owner_created", table_name="media_files")
    op.drop_index(
        "ix_media_files_deleted_at", table_name="media_files", postgresql_where=sa.text("deleted_at IS NOT NULL")
    )
    op.drop_table("media_files")
    op.drop_index("ix_media_audit_media_id_id", table_name="media_audit")
    op.drop_table("media_audit")
    drop_plumbing_tables()
