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
    Numeric,
    and_,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from lectern_analytics.dashboards.money import Currency
from lectern_analytics.dashboards.scopes import (
    LIVE_MEDIA,
    course_scope,
    engagement_scope,
    media_scope,
)
from lectern_analytics.dashboards.statements import (
    BY_COURSE,
    BY_LESSON,
    BY_MEDIA,
    TOTALS,
    engagement_statement,
    production_statement,
)
from lectern_analytics.models import CourseFact, EngagementFact, LessonFact, MediaFileFact

Figures = dict[str, Any]


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
    def _engagement_row(row: Any) -> Figures:
        return {
            "views": _int(row.views),
            "watchSeconds": _float(row.watch_seconds),
            "completions": _int(row.completions),
            "ratings": _int(row.ratings),
            "averageRating": round(float(row.average_rating), 4) if row.average_rating is not None else None,
        }

    async def engagement(self, owner_id: str, course_id: str | None, start: datetime, end: datetime) -> Figures:
        rows = await self._rows(engagement_statement(owner_id, course_id, start, end))
        sets: dict[int, list[Any]] = {TOTALS: [], BY_COURSE: [], BY_LESSON: [], BY_MEDIA: []}
        for row in rows:
            sets[row.grouping].append(row)
        return {
            "totals": self._engagement_row(sets[TOTALS][0]),
            "perCourse": [
                {"courseId": r.course_id, "title": r.course_title, **self._engagement_row(r)} for r in sets[BY_COURSE]
            ],
            "perLesson": [
                {"courseId": r.course_id, "lessonId": r.lesson_id, "title": r.lesson_title, **self._engagement_row(r)}
                for r in sets[BY_LESSON]
            ],
            "perMedia": [{"mediaId": r.media_id, **self._engagement_row(r)} for r in sets[BY_MEDIA]],
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

    async def production(self, owner_id: str, course_id: str | None) -> Figures:
        *rows, totals = await self._rows(production_statement(owner_id, course_id))
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
