"""engagement_events: the (course_id, at) index also carries type, value, lesson and media

The engagement, sales and engagement-growth domains read, for an owner's courses and a range, only
these columns (bench/analytics: EXPLAIN ANALYZE for the busiest instructor). With them in the
index, each course's range is an index-only scan; without, every fact is a heap fetch, and an
owner's facts are spread over every page of the range (facts of all owners arrive interleaved).
The new index replaces the old one: same key columns, so it serves every query the old one did.

Revision ID: 0002_cover_engagement_figures
Revises: 0001_create_analytics_facts
Create Date: 2026-12-01 12:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_cover_engagement_figures"
down_revision: str | None = "0001_create_analytics_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = ["type", "value", "lesson_id", "media_id"]


def upgrade() -> None:
    op.create_index(
        "ix_engagement_events_course_at_figures",
        "engagement_events",
        ["course_id", "at"],
        postgresql_include=FIGURES,
    )
    op.drop_index("ix_engagement_events_course_at", table_name="engagement_events")


def downgrade() -> None:
    op.create_index("ix_engagement_events_course_at", "engagement_events", ["course_id", "at"])
    op.drop_index("ix_engagement_events_course_at_figures", table_name="engagement_events")
