"""The one statement that writes a save back: every chapter and lesson insert and update, and the
course's next version, in a single round trip whatever the save holds.

Each kind of change is a data-modifying CTE over ``unnest`` of arrays (one array per column, empty
when there is nothing of that kind), so the statement text never changes and is prepared once per
connection. The CTEs see one snapshot and touch disjoint rows (a node is inserted or updated,
never both), and foreign keys are checked at the end of the statement, so a lesson may go into a
chapter inserted by the same statement. Replaces five executemany/UPDATE statements, whose Python
cost per statement was most of a small save's own time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.editing.changes import Changes
from lectern_course.models import Course

_COURSE_COLUMNS = ", ".join(column.name for column in Course.__table__.c)

_WRITE_CHANGES = text(
    f"""
WITH chapter_inserts AS (
    INSERT INTO chapters (id, course_id, title, position)
    SELECT t.id, :course_id, t.title, t.position
    FROM unnest(CAST(:ci_id AS varchar[]), CAST(:ci_title AS varchar[]), CAST(:ci_position AS integer[]))
        AS t(id, title, position)
), lesson_inserts AS (
    INSERT INTO lessons (id, course_id, chapter_id, title, position, media_id)
    SELECT t.id, :course_id, t.chapter_id, t.title, t.position, t.media_id
    FROM unnest(
        CAST(:li_id AS varchar[]), CAST(:li_chapter_id AS varchar[]), CAST(:li_title AS varchar[]),
        CAST(:li_position AS integer[]), CAST(:li_media_id AS varchar[])
    ) AS t(id, chapter_id, title, position, media_id)
), chapter_updates AS (
    UPDATE chapters SET title = t.title, position = t.position, deleted_at = t.deleted_at
    FROM unnest(
        CAST(:cu_id AS varchar[]), CAST(:cu_title AS varchar[]), CAST(:cu_position AS integer[]),
        CAST(:cu_deleted_at AS timestamptz[])
    ) AS t(id, title, position, deleted_at)
    WHERE chapters.id = t.id
), lesson_updates AS (
    UPDATE lessons
    SET chapter_id = t.chapter_id, title = t.title, position = t.position, media_id = t.media_id,
        deleted_at = t.deleted_at
    FROM unnest(
        CAST(:lu_id AS varchar[]), CAST(:lu_chapter_id AS varchar[]), CAST(:lu_title AS varchar[]),
        CAST(:lu_position AS integer[]), CAST(:lu_media_id AS varchar[]), CAST(:lu_deleted_at AS timestamptz[])
    ) AS t(id, chapter_id, title, position, media_id, deleted_at)
    WHERE lessons.id = t.id
)
UPDATE courses
SET version = version + 1, updated_at = now(),
    title = COALESCE(CAST(:title AS varchar), title), description = COALESCE(CAST(:description AS text), description)
WHERE id = :course_id
RETURNING {_COURSE_COLUMNS}
"""
)

_CHAPTER_INSERT = ("id", "title", "position")
_LESSON_INSERT = ("id", "chapter_id", "title", "position", "media_id")
_CHAPTER_UPDATE = ("id", "title", "position", "deleted_at")
_LESSON_UPDATE = ("id", "chapter_id", "title", "position", "media_id", "deleted_at")


async def write_changes(session: AsyncSession, course_id: str, changes: Changes) -> Any:
    """Write ``changes`` and bump the course's version (and ``updated_at``, and the patched title
    and description); answers the course's new row."""
    values: dict[str, Any] = {
        "course_id": course_id,
        "title": changes.course_values.get("title"),
        "description": changes.course_values.get("description"),
    }
    values.update(_columns("ci", _CHAPTER_INSERT, changes.chapter_inserts))
    values.update(_columns("li", _LESSON_INSERT, changes.lesson_inserts))
    values.update(_columns("cu", _CHAPTER_UPDATE, changes.chapter_updates))
    values.update(_columns("lu", _LESSON_UPDATE, changes.lesson_updates))
    return (await session.execute(_WRITE_CHANGES, values)).one()


def _columns(prefix: str, names: tuple[str, ...], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Row dicts as one list per column (``<prefix>_<column>``), the arrays ``unnest`` reads."""
    return {f"{prefix}_{name}": [row[name] for row in rows] for name in names}
