"""media probing: media_files.probe and .error, and the media_probe_jobs queue

Revision ID: 0002_add_media_probing
Revises: 0001
Create Date: 2026-12-01 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_add_media_probing"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("media_files", sa.Column("probe", postgresql.JSONB(astext_type=sa.Text())))
    op.add_column("media_files", sa.Column("error", sa.Text()))
    op.create_table(
        "media_probe_jobs",
        sa.Column("media_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("attempts", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column(
            "upload_target",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_files.id"],
            name=op.f("fk_media_probe_jobs_media_id_media_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("media_id", name=op.f("pk_media_probe_jobs")),
    )
    op.create_index("ix_media_probe_jobs_not_before", "media_probe_jobs", ["not_before"])
    # Files registered before probing existed were made ready unprobed; they stay as they are.


def downgrade() -> None:
    op.drop_index("ix_media_probe_jobs_not_before", table_name="media_probe_jobs")
    op.drop_table("media_probe_jobs")
    op.drop_column("media_files", "error")
    op.drop_column("media_files", "probe")
