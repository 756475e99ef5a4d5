"""Every dashboard query: one method per domain, each answering its JSON-ready figures.

Scope: an owner (the caller) and optionally one of their courses. A course's media are those its
lessons hold plus those linked to it (course, chapter or lesson links). "Live" media are neither
soft deleted nor gone. Ranged domains count facts with ``start <= time < end``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Numeric,
    and_,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from lectern_analytics.dashboards.money import Currency
from lectern_analytics.dashboards.scopes import (
    LIVE_MEDIA,
    course_scope,
    engagement_scope,
    media_scope,
    owned_courses,
)
from lectern_analytics.models import CourseFact, EngagementFact, LessonFact, MediaFileFact, MediaLinkFact

Figures = dict[str, Any]

# ``grouping(course_id, lesson_id, media_id)`` of each grouping set of the engagement statement.
_TOTALS, _BY_COURSE, _BY_LESSON, _BY_MEDIA = 0b111, 0b011, 0b001, 0b110

_UTC_DAY = "UTC"


def _int(value: Any) -> int:
    return int(value or 0)


def _float(value: Any) -> float:
    return float(value or 0)


def rfc3339(value: datetime | None) -> str | None:
    """An RFC 3339 UTC time (``...Z``), as the proto's Timestamp JSON form takes it."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


class DashboardQueries:
    def __init__(self, session: AsyncSession, *, top_list_size: int = 10, currency: str = "USD") -> None:
        self._session = session
        self._top = top_list_size
        self._currency = Currency(currency)

    async def _rows(self, statement: Executable) -> list[Any]:
        return list((await self._session.execute(statement)).all())

    # -- storage: bytes by mime and status, reclaimable soft-deleted bytes (snapshot) --------

    async def storage(self, owner_id: str, course_id: str | None) -> Figures:
        scope = media_scope(owner_id, course_id)
        files, size = func.count(MediaFileFact.media_id), func.coalesce(func.sum(MediaFileFact.size_bytes), 0)
        total = (await self._rows(select(files, size).where(*scope, LIVE_MEDIA)))[0]
        by_mime = await self._rows(
            select(MediaFileFact.mime_type, files, size)
            .where(*scope, LIVE_MEDIA)
            .group_by(MediaFileFact.mime_type)
            .order_by(size.desc(), MediaFileFact.mime_type)
        )
        by_status = await self._rows(
            select(MediaFileFact.status, files, size)
            .where(*scope, LIVE_MEDIA)
            .group_by(MediaFileFact.status)
            .order_by(MediaFileFact.status)
        )
        reclaimable = (
            await self._rows(
                select(files, size).where(
                    *scope, MediaFileFact.deleted_at.is_not(None), MediaFileFact.purged_at.is_(None)
                )
            )
        )[0]
        return {
            "totalFiles": _int(total[0]),
            "totalBytes": _int(total[1]),
            "byMimeType": [{"mimeType": r[0], "files": _int(r[1]), "bytes": _int(r[2])} for r in by_mime],
            "byStatus": [{"status": r[0], "files": _int(r[1]), "bytes": _int(r[2])} for r in by_status],
            "reclaimable": {"files": _int(reclaimable[0]), "bytes": _int(reclaimable[1])},
        }

    # -- usage: unused files (cleanup opportunities), most used files (snapshot) -------------

    async def usage(self, owner_id: str, course_id: str | None) -> Figures:
        scope = media_scope(owner_id, course_id)
        files, size = func.count(MediaFileFact.media_id), func.coalesce(func.sum(MediaFileFact.size_bytes), 0)
        unused_where = (*scope, LIVE_MEDIA, MediaFileFact.usage_count == 0)
        used_where = (*scope, LIVE_MEDIA, MediaFileFact.usage_count > 0)
        unused = (await self._rows(select(files, size).where(*unused_where)))[0]
        used = (await self._rows(select(files, size).where(*used_where)))[0]
        largest_unused = await self._rows(
            select(MediaFileFact)
            .where(*unused_where)
            .order_by(MediaFileFact.size_bytes.desc(), MediaFileFact.media_id)
            .limit(self._top)
        )
        top_used = await self._rows(
            select(MediaFileFact)
            .where(*used_where)
            .order_by(MediaFileFact.usage_count.desc(), MediaFileFact.size_bytes.desc(), MediaFileFact.media_id)
            .limit(self._top)
        )

        def item(media: MediaFileFact) -> Figures:
            return {
                "mediaId": media.media_id,
                "title": media.title,
                "fileName": media.file_name,
                "sizeBytes": media.size_bytes,
                "usageCount": media.usage_count,
                "createdAt": rfc3339(media.created_at),
            }

        return {
            "unused": {
                "files": _int(unused[0]),
                "bytes": _int(unused[1]),
                "largest": [item(r[0]) for r in largest_unused],
            },
            "used": {"files": _int(used[0]), "bytes": _int(used[1])},
            "topUsed": [item(r[0]) for r in top_used],
        }

    # -- content: courses, lessons, media counts (snapshot) ----------------------------------

    async def content(self, owner_id: str, course_id: str | None) -> Figures:
        in_scope = course_scope(owner_id, course_id)
        courses = (await self._rows(select(func.count()).select_from(CourseFact).where(*in_scope)))[0][0]
        lessons = (
            await self._rows(
                select(func.count(LessonFact.lesson_id), func.count(LessonFact.media_id))
                .join(CourseFact, CourseFact.course_id == LessonFact.course_id)
                .where(*in_scope)
            )
        )[0]
        media = (
            await self._rows(
                select(
                    func.count(MediaFileFact.media_id),
                    func.count(MediaFileFact.media_id).filter(MediaFileFact.status == "ready"),
                ).where(*media_scope(owner_id, course_id), LIVE_MEDIA)
            )
        )[0]
        return {
            "courses": _int(courses),
            "lessons": _int(lessons[0]),
            "lessonsWithMedia": _int(lessons[1]),
            "mediaFiles": _int(media[0]),
            "mediaReady": _int(media[1]),
        }

    # -- engagement: views, watch time, completions, ratings in range ------------------------

    @staticmethod
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

    @staticmethod
    def _engagement_row(row: Any) -> Figures:
        return {
            "views": _int(row.views),
            "watchSeconds": _float(row.watch_seconds),
            "completions": _int(row.completions),
            "ratings": _int(row.ratings),
            "averageRating": round(float(row.average_rating), 4) if row.average_rating is not None else None,
        }

    def _engagement_statement(self, owner_id: str, course_id: str | None, start: datetime, end: datetime) -> Executable:
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
            select(k.course_id, k.lesson_id, k.media_id, grouping, *self._engagement_figures(kinds))
            .group_by(
                func.grouping_sets(tuple_(), tuple_(k.course_id), tuple_(k.course_id, k.lesson_id), tuple_(k.media_id))
            )
            .having(
                or_(grouping != _BY_LESSON, k.lesson_id.is_not(None)),
                or_(grouping != _BY_MEDIA, k.media_id.is_not(None)),
            )
            .subquery("grouped")
        )
        return (
            select(grouped, CourseFact.title.label("course_title"), LessonFact.title.label("lesson_title"))
            .select_from(grouped)
            .outerjoin(CourseFact, and_(grouped.c.grouping == _BY_COURSE, CourseFact.course_id == grouped.c.course_id))
            .outerjoin(LessonFact, and_(grouped.c.grouping == _BY_LESSON, LessonFact.lesson_id == grouped.c.lesson_id))
            .order_by(grouped.c.grouping, grouped.c.course_id, grouped.c.lesson_id, grouped.c.media_id)
        )

    async def engagement(self, owner_id: str, course_id: str | None, start: datetime, end: datetime) -> Figures:
        rows = await self._rows(self._engagement_statement(owner_id, course_id, start, end))
        sets: dict[int, list[Any]] = {_TOTALS: [], _BY_COURSE: [], _BY_LESSON: [], _BY_MEDIA: []}
        for row in rows:
            sets[row.grouping].append(row)
        return {
            "totals": self._engagement_row(sets[_TOTALS][0]),
            "perCourse": [
                {"courseId": r.course_id, "title": r.course_title, **self._engagement_row(r)} for r in sets[_BY_COURSE]
            ],
            "perLesson": [
                {"courseId": r.course_id, "lessonId": r.lesson_id, "title": r.lesson_title, **self._engagement_row(r)}
                for r in sets[_BY_LESSON]
            ],
            "perMedia": [{"mediaId": r.media_id, **self._engagement_row(r)} for r in sets[_BY_MEDIA]],
        }

    # -- sales: revenue per course in range ------------------------------------------------

    async def sales(self, owner_id: str, course_id: str | None, start: datetime, end: datetime) -> Figures:
        # The owner's courses are also said on the facts' side, so their sales are read through the
        # (course_id, at) index rather than every owner's events in the range.
        sold = and_(
            EngagementFact.course_id == CourseFact.course_id,
            EngagementFact.type == "sale",
            *engagement_scope(owner_id, course_id, start, end),
        )
        # Each sale rounded (half away from zero, in numeric: the float's shortest decimal, so 0.015
        # is 1.5 cents, not 1.4999...) to the minor unit before summing: per course and total add up.
        minor = self._currency.minor_per_unit
        in_minor = func.round(cast(EngagementFact.value, Numeric) * minor)
        revenue = func.coalesce(func.sum(cast(in_minor, BigInteger)), 0)
        rows = await self._rows(
            select(CourseFact.course_id, CourseFact.title, func.count(EngagementFact.at), revenue)
            .select_from(CourseFact)
            .outerjoin(EngagementFact, sold)
            .where(*course_scope(owner_id, course_id))
            .group_by(CourseFact.course_id, CourseFact.title)
            .order_by(revenue.desc(), CourseFact.course_id)
        )
        per_course = [
            {"courseId": r[0], "title": r[1], "sales": _int(r[2]), "revenue": self._currency.money(_int(r[3]))}
            for r in rows
        ]
        return {
            "totalRevenue": self._currency.money(sum(c["revenue"]["amountMinor"] for c in per_course)),
            "totalSales": sum(c["sales"] for c in per_course),
            "perCourse": per_course,
        }

    # -- production: media bytes and minutes per course (a proxy for production cost) ------

    def _production_statement(self, owner_id: str, course_id: str | None) -> Executable:
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

    async def production(self, owner_id: str, course_id: str | None) -> Figures:
        *rows, totals = await self._rows(self._production_statement(owner_id, course_id))
        return {
            "totals": {
                "mediaFiles": _int(totals.files),
                "mediaBytes": _int(totals.bytes),
                "mediaMinutes": round(_float(totals.seconds) / 60, 4),
            },
            "perCourse": [
                {
                    "courseId": r[0],
                    "title": r[1],
                    "mediaFiles": _int(r[2]),
                    "mediaBytes": _int(r[3]),
                    "mediaMinutes": round(_float(r[4]) / 60, 4),
                }
                for r in rows
            ],
        }

    # -- growth: per-day rows, filled and fitted by dashboards.series ----------------------

    async def storage_growth(
        self, owner_id: str, course_id: str | None, start: datetime, end: datetime
    ) -> list[tuple[datetime, Figures]]:
        """(UTC day, {files, bytesAdded}) for each day a file was added, purged ones included:
        the bytes were added that day whatever happened to them later."""
        day = func.date_trunc("day", func.timezone(_UTC_DAY, MediaFileFact.created_at)).label("day")
        rows = await self._rows(
            select(day, func.count(MediaFileFact.media_id), func.coalesce(func.sum(MediaFileFact.size_bytes), 0))
            .where(
                *media_scope(owner_id, course_id),
                MediaFileFact.created_at >= start,
                MediaFileFact.created_at < end,
            )
            .group_by(day)
        )
        return [(r[0], {"files": _int(r[1]), "bytesAdded": _int(r[2])}) for r in rows]

    async def engagement_growth(
        self, owner_id: str, course_id: str | None, start: datetime, end: datetime
    ) -> list[tuple[datetime, Figures]]:
        """(UTC day, {events, views, completions, sales}) for each day with engagement."""
        day = func.date_trunc("day", func.timezone(_UTC_DAY, EngagementFact.at)).label("day")
        kind = EngagementFact.type
        rows = await self._rows(
            select(
                day,
                func.count(),
                func.count().filter(kind == "view"),
                func.count().filter(kind == "completion"),
                func.count().filter(kind == "sale"),
            )
            .select_from(EngagementFact)
            .where(*engagement_scope(owner_id, course_id, start, end))
            .group_by(day)
        )
        return [
            (r[0], {"events": _int(r[1]), "views": _int(r[2]), "completions": _int(r[3]), "sales": _int(r[4])})
            for r in rows
        ]

    # -- ownership -------------------------------------------------------------------------

    async def owns_course(self, owner_id: str, course_id: str) -> bool:
        found = await self._rows(
            select(literal(1)).where(CourseFact.course_id == course_id, CourseFact.owner_id == owner_id)
        )
        return bool(found)
