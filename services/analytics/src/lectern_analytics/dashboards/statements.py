"""The two dashboard statements that read a whole domain in one pass (engagement, production),
built here so that dashboards/repository.py keeps one method per domain. The repository runs them
and shapes their rows into figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, cast, func, literal, null, or_, select, text, true, tuple_, union, union_all
from sqlalchemy.sql import Executable

from lectern_analytics.dashboards.scopes import LIVE_MEDIA, course_scope, owned_courses
from lectern_analytics.models import CourseFact, EngagementFact, LessonFact, MediaFileFact, MediaLinkFact

# ``grouping(course_id, lesson_id, media_id)`` of each grouping set of the engagement statement.
TOTALS, BY_COURSE, BY_LESSON, BY_MEDIA = 0b111, 0b011, 0b001, 0b110


def _engagement_figures(kinds: Any) -> list[Any]:
    """The figures of a set of ``kinds`` rows (facts counted and summed per kind, see below)."""

    def of(kind: str, column: Any) -> Any:
        return func.sum(column).filter(kinds.c.type == kind)

    return [
        func.coalesce(of("view", kinds.c.facts), 0).label("views"),
        func.coalesce(of("watch_seconds", kinds.c.total), 0).label("watch_seconds"),
        func.coalesce(of("completion", kinds.c.facts), 0).label("completions"),
        func.coalesce(of("rating", kinds.c.facts), 0).label("ratings"),
        (of("rating", kinds.c.total) / func.nullif(cast(of("rating", kinds.c.valued), Float), 0)).label(
            "average_rating"
        ),
    ]


def engagement_statement(owner_id: str, course_id: str | None, start: datetime, end: datetime) -> Executable:
    """Totals, per course, per lesson and per media in one statement: first, course by course
    (a LATERAL read of that course's range in the (course_id, at) index), each (lesson, media,
    kind)'s count and sum; then the four grouping sets over those few rows; then the titles.
    Four statements re-read the facts four times; grouping sets straight over the facts cost 20
    filtered aggregates per fact and a sort of them all. ``grouping`` tells the sets apart."""
    e = EngagementFact
    per_course = (
        select(e.lesson_id, e.media_id, e.type, func.count().label("facts"))
        .add_columns(func.count(e.value).label("valued"), func.sum(e.value).label("total"))
        .where(e.course_id == CourseFact.course_id, e.at >= start, e.at < end)
        .group_by(e.lesson_id, e.media_id, e.type)
        .lateral("per_course")
    )
    kinds = (
        select(CourseFact.course_id, per_course)
        .join_from(CourseFact, per_course, true())
        .where(*owned_courses(owner_id, course_id))
        .subquery("kinds")
    )
    k = kinds.c
    grouping = func.grouping(k.course_id, k.lesson_id, k.media_id).label("grouping")
    grouped = (
        select(k.course_id, k.lesson_id, k.media_id, grouping, *_engagement_figures(kinds))
        .group_by(
            func.grouping_sets(tuple_(), tuple_(k.course_id), tuple_(k.course_id, k.lesson_id), tuple_(k.media_id))
        )
        .having(
            or_(grouping != BY_LESSON, k.lesson_id.is_not(None)),
            or_(grouping != BY_MEDIA, k.media_id.is_not(None)),
        )
        .subquery("grouped")
    )
    return (
        select(grouped, CourseFact.title.label("course_title"), LessonFact.title.label("lesson_title"))
        .select_from(grouped)
        .outerjoin(CourseFact, and_(grouped.c.grouping == BY_COURSE, CourseFact.course_id == grouped.c.course_id))
        .outerjoin(LessonFact, and_(grouped.c.grouping == BY_LESSON, LessonFact.lesson_id == grouped.c.lesson_id))
        .order_by(grouped.c.grouping, grouped.c.course_id, grouped.c.lesson_id, grouped.c.media_id)
    )


def production_statement(owner_id: str, course_id: str | None) -> Executable:
    """Per course (files, bytes, seconds of the live media it holds) and, in the last row, the
    totals counting a file two courses share once: one statement over one list of the courses'
    live media. Each course's media are read in a LATERAL (its lessons, and its links through
    the (course_id, media_id) index) and de-duplicated per course: a UNION over all the
    courses' links had one hash of every link and, misjudging its size, a lookup per file."""
    held = union(
        select(LessonFact.media_id).where(
            LessonFact.course_id == CourseFact.course_id, LessonFact.media_id.is_not(None)
        ),
        select(MediaLinkFact.media_id).where(MediaLinkFact.course_id == CourseFact.course_id),
    ).lateral("held")
    # Materialized: the (course, media) pairs are made first, whatever the planner guesses of
    # their number (joining the files inside the per-course loop read the files once a course).
    pairs = (
        select(CourseFact.course_id, held.c.media_id)
        .join_from(CourseFact, held, true())
        .where(*course_scope(owner_id, course_id))
        .cte("pairs")
        .prefix_with("MATERIALIZED")
    )
    media = MediaFileFact
    live = (
        select(pairs.c.course_id, media.media_id, media.size_bytes, media.duration_seconds)
        .join_from(pairs, media, media.media_id == pairs.c.media_id)
        .where(LIVE_MEDIA)
        .cte("live")
    )

    def figures(rows: Any) -> list[Any]:
        return [
            func.count(rows.c.media_id).label("files"),
            func.coalesce(func.sum(rows.c.size_bytes), 0).label("bytes"),
            func.coalesce(func.sum(rows.c.duration_seconds), 0).label("seconds"),
        ]

    per_course = (
        select(CourseFact.course_id, CourseFact.title, *figures(live), literal(0).label("is_total"))
        .select_from(CourseFact)
        .outerjoin(live, live.c.course_id == CourseFact.course_id)
        .where(*course_scope(owner_id, course_id))
        .group_by(CourseFact.course_id, CourseFact.title)
    )
    files = select(live.c.media_id, live.c.size_bytes, live.c.duration_seconds).distinct().subquery("files")
    totals = select(null(), null(), *figures(files), literal(1))
    return union_all(per_course, totals).order_by(text("is_total"), text("course_id"))
