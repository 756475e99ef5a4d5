"""uploads learn the media file media made from them

Revision ID: 0002_add_upload_media_id
Revises: 0001_create_uploads
Create Date: 2026-12-01 09:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_add_upload_media_id"
down_revision = "0001_create_uploads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("media_id", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("uploads", "media_id")
