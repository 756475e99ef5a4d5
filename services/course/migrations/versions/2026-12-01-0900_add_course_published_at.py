"""add courses.published_at (publishCourse / unpublishCourse)

Revision ID: 0002_add_course_published_at
Revises: 0001_create_courses
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_add_course_published_at"
down_revision: str | None = "0001_create_courses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("courses", sa.Column("published_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("courses", "published_at")
