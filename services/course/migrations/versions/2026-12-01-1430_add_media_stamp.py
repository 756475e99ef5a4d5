"""add media_read_stamp: one counter every change to the media read model bumps, so a cached
editor tree (keyed by course version and this stamp) is never served after a media change

Revision ID: 0003_add_media_stamp
Revises: 0002_add_course_published_at
Create Date: 2026-12-01 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_add_media_stamp"
down_revision: str | None = "0002_add_course_published_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_read_stamp",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("stamp", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_read_stamp")),
        sa.CheckConstraint("id = 1", name=op.f("ck_media_read_stamp_one_row")),
    )
    op.execute("INSERT INTO media_read_stamp (id, stamp) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("media_read_stamp")
