"""What a dashboard query may read: the owner's media, courses and engagement, optionally one
course's. Each scope is said so that the index on its table's course or owner column serves it
(bench/analytics' EXPLAIN ANALYZE for the busiest instructor of a platform is the reference)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, any_, func, literal, select, union
from sqlalchemy.sql import Select

from lectern_analytics.models import CourseFact, EngagementFact, LessonFact, MediaFileFact, MediaLinkFact

LIVE_MEDIA = and_(MediaFileFact.deleted_at.is_(None), MediaFileFact.purged_at.is_(None))


def any_of(course_ids: Select[Any]) -> Any:
    """``= ANY(ARRAY(<course ids>))``: a btree whose first column is the course id is then searched
    once per course (an IN would leave the planner free to read every owner's rows instead)."""
    return any_(func.array(course_ids.scalar_subquery()))


def course_media(course_ids: Select[Any]) -> Any:
    """(course_id, media_id) for every media one of ``course_ids`` (a select of course ids) holds in
    a lesson or through a link. The courses are filtered in each branch, where the lessons' and
    links' course indexes serve them: a join condition outside a UNION reaches neither branch, so
    both tables would be read whole (every owner's lessons and links) on each call."""
    courses = any_of(course_ids)
    return union(
        select(LessonFact.course_id, LessonFact.media_id).where(
            LessonFact.media_id.is_not(None), LessonFact.course_id == courses
        ),
        select(MediaLinkFact.course_id, MediaLinkFact.media_id).where(MediaLinkFact.course_id == courses),
    ).subquery("course_media")


def media_scope(owner_id: str, course_id: str | None) -> list[ColumnElement[bool]]:
    """The owner's media, or those of the one course asked for."""
    clauses: list[ColumnElement[bool]] = [MediaFileFact.owner_id == owner_id]
    if course_id is not None:
        held = course_media(select(literal(course_id)))
        clauses.append(MediaFileFact.media_id.in_(select(held.c.media_id)))
    return clauses


def course_scope(owner_id: str, course_id: str | None) -> list[ColumnElement[bool]]:
    """The owner's live courses, or the one course asked for (even when deleted)."""
    if course_id is not None:
        return [CourseFact.owner_id == owner_id, CourseFact.course_id == course_id]
    return [CourseFact.owner_id == owner_id, CourseFact.deleted_at.is_(None)]


def engagement_scope(owner_id: str, course_id: str | None, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    """The facts of the owner's courses (or the one asked for) with ``start <= at < end``."""
    # Engagement belongs to whoever owns the course now (looked up, not copied at record time).
    # A join to courses let the planner read every owner's events in the range and filter them
    # afterwards (ten times the rows for an owner with a tenth of the platform).
    owned = select(CourseFact.course_id).where(*owned_courses(owner_id, course_id))
    return [EngagementFact.course_id == any_of(owned), EngagementFact.at >= start, EngagementFact.at < end]


def owned_courses(owner_id: str, course_id: str | None) -> list[ColumnElement[bool]]:
    """The courses whose engagement counts: all the owner's (deleted ones too), or the one asked for."""
    if course_id is not None:
        return [CourseFact.owner_id == owner_id, CourseFact.course_id == course_id]
    return [CourseFact.owner_id == owner_id]
