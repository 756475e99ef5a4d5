"""GetDashboard: a dashboard is a few domains, each computed by one query function in its own
session, concurrently (asyncio.gather), each cached on its own in Redis (dashboards.cache).
Domains meet only in the response; the ``combined`` entry of the ROI dashboard (revenue per GB)
is derived there from sales and production, and cached under a key made of theirs (so it goes
with either): a warm ROI call merges its bytes instead of loading both domains' JSON to derive it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lectern_common.db import UnitOfWork
from lectern_common.identity import Identity

from lectern_analytics import errors
from lectern_analytics.dashboards.cache import CachedDomain, DomainCache, DomainSpan, Lookup
from lectern_analytics.dashboards.domains import DASHBOARDS, RANGED_DOMAINS
from lectern_analytics.dashboards.repository import DashboardQueries, Figures, rfc3339
from lectern_analytics.dashboards.schemas import DashboardRequest, DashboardResult
from lectern_analytics.dashboards.series import daily_series, linear_trend
from lectern_analytics.settings import AnalyticsSettings

BYTES_PER_GB = 1_000_000_000
# The domains ROI's ``combined`` entry is derived from.
COMBINED_FROM = ("sales", "production")

DomainQuery = Callable[[DashboardQueries, str, str | None, datetime, datetime], Awaitable[Figures]]
# A domain's figures -> its typed message, serialized (the transport's encoding, given at wiring).
DomainEncoder = Callable[[str, Figures], bytes]


async def _storage_growth(
    q: DashboardQueries, owner: str, course: str | None, start: datetime, end: datetime
) -> Figures:
    per_day = daily_series(await q.storage_growth(owner, course, start, end), start, end, {"files": 0, "bytesAdded": 0})
    return {
        "totalFiles": sum(d["files"] for d in per_day),
        "totalBytesAdded": sum(d["bytesAdded"] for d in per_day),
        "perDay": per_day,
        "trend": linear_trend([d["bytesAdded"] for d in per_day]),
    }


async def _engagement_growth(
    q: DashboardQueries, owner: str, course: str | None, start: datetime, end: datetime
) -> Figures:
    zero = {"events": 0, "views": 0, "completions": 0, "sales": 0}
    per_day = daily_series(await q.engagement_growth(owner, course, start, end), start, end, zero)
    return {
        "totalEvents": sum(d["events"] for d in per_day),
        "perDay": per_day,
        "trend": linear_trend([d["events"] for d in per_day]),
    }


# One query function per domain (ranged ones use start/end; snapshots ignore them).
DOMAIN_QUERIES: dict[str, DomainQuery] = {
    "storage": lambda q, owner, course, start, end: q.storage(owner, course),
    "usage": lambda q, owner, course, start, end: q.usage(owner, course),
    "content": lambda q, owner, course, start, end: q.content(owner, course),
    "production": lambda q, owner, course, start, end: q.production(owner, course),
    "engagement": lambda q, owner, course, start, end: q.engagement(owner, course, start, end),
    "sales": lambda q, owner, course, start, end: q.sales(owner, course, start, end),
    "storageGrowth": _storage_growth,
    "engagementGrowth": _engagement_growth,
}


def _per_gb(revenue: Figures, size_bytes: int) -> Figures | None:
    """Money per 10^9 bytes, rounded half up to the minor unit; None without bytes."""
    if not size_bytes:
        return None
    per_gb = (revenue["amountMinor"] * BYTES_PER_GB * 2 + size_bytes) // (size_bytes * 2)
    return {"currency": revenue["currency"], "amountMinor": per_gb}


def roi_combined(domains: dict[str, Figures]) -> Figures:
    """Revenue per GB of media, overall and per course: sales joined to production in the response."""
    sales, production = domains["sales"], domains["production"]
    bytes_by_course = {c["courseId"]: c["mediaBytes"] for c in production["perCourse"]}
    return {
        "revenuePerGb": _per_gb(sales["totalRevenue"], production["totals"]["mediaBytes"]),
        "perCourse": [
            {
                "courseId": c["courseId"],
                "revenue": c["revenue"],
                "mediaBytes": bytes_by_course.get(c["courseId"], 0),
                "revenuePerGb": _per_gb(c["revenue"], bytes_by_course.get(c["courseId"], 0)),
            }
            for c in sales["perCourse"]
        ],
    }


@dataclass(frozen=True)
class _Answer:
    """One domain's answer and whether it came from the cache."""

    answer: CachedDomain
    hit: bool


class DashboardService:
    def __init__(
        self,
        settings: AnalyticsSettings,
        uow: UnitOfWork,
        cache: DomainCache,
        encode: DomainEncoder,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._uow = uow
        self._cache = cache
        self._encode = encode
        self._clock = clock
        # Instrumentation: domain queries running now, the most seen at once, and cache outcomes.
        self.in_flight = 0
        self.peak_in_flight = 0
        self.cache_hits = 0
        self.cache_misses = 0
        # A hook awaited before each domain query (tests await a shared asyncio.Barrier in it).
        self.before_query: Callable[[str], Awaitable[None]] | None = None

    async def get_dashboard(self, identity: Identity, request: DashboardRequest) -> DashboardResult:
        """The dashboard's domains for the caller over ``[start, end)``, each from the cache or
        computed concurrently; another user's (or an unknown) course is NOT_FOUND."""
        name, start, end = self._validated(request)
        owner_id = identity.user_id
        if request.course_id is not None:
            async with self._uow.read_only() as session:
                if not await DashboardQueries(session).owns_course(owner_id, request.course_id):
                    raise errors.course_not_found(request.course_id)
        names = DASHBOARDS[name]
        spans = [DomainSpan(d, start, end) if d in RANGED_DOMAINS else DomainSpan(d, None, None) for d in names]
        combined_from = {"combined": COMBINED_FROM} if name == "roi" else None
        lookups = await self._cache.get_many(owner_id, spans, request.course_id, combined_from)
        found = await asyncio.gather(
            *(self._domain(owner_id, d, start, end, request.course_id, lookups[d]) for d in names)
        )
        by_domain = dict(zip(names, found, strict=True))
        combined = await self._combined(by_domain, lookups["combined"]) if combined_from else None
        answers = {domain: one.answer for domain, one in by_domain.items()}
        return DashboardResult(dashboard=name, answers=answers, combined=combined, generated_at=self._clock())

    def _validated(self, request: DashboardRequest) -> tuple[str, datetime, datetime]:
        fields: dict[str, str] = {}
        if request.dashboard not in DASHBOARDS:
            fields["dashboard"] = f"must be one of {', '.join(DASHBOARDS)}"
        if request.start is None:
            fields["from"] = "is required"
        if request.end is None:
            fields["to"] = "is required"
        if request.course_id is not None and not request.course_id:
            fields["courseId"] = "must not be empty"
        if request.start is not None and request.end is not None:
            if request.end <= request.start:
                fields["to"] = "must be after from"
            elif request.end - request.start > timedelta(days=self._settings.max_range_days):
                fields["to"] = f"the range may cover at most {self._settings.max_range_days} days"
        if fields:
            raise errors.invalid_dashboard_request(fields)
        assert request.dashboard is not None and request.start is not None and request.end is not None
        return request.dashboard, request.start.astimezone(UTC), request.end.astimezone(UTC)

    async def _combined(self, by_domain: dict[str, _Answer], lookup: Lookup) -> CachedDomain:
        """ROI's derived entry: from the cache when sales and production both came from it, else
        derived from their figures (and stored under the key derived from theirs)."""
        if lookup.cached is not None and all(by_domain[d].hit for d in COMBINED_FROM):
            return lookup.cached
        figures = roi_combined({d: by_domain[d].answer.figures for d in COMBINED_FROM})
        answer = CachedDomain.of(figures, self._encode("combined", figures))
        if lookup.key is not None:
            await self._cache.put(lookup.key, answer)
        return answer

    async def _domain(
        self, owner_id: str, domain: str, start: datetime, end: datetime, course_id: str | None, lookup: Lookup
    ) -> _Answer:
        if lookup.cached is not None:
            self.cache_hits += 1
            return _Answer(lookup.cached, hit=True)
        self.cache_misses += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.before_query is not None:
                await self.before_query(domain)
            async with self._uow.read_only() as session:
                queries = DashboardQueries(
                    session, top_list_size=self._settings.top_list_size, currency=self._settings.currency
                )
                figures: dict[str, Any] = await DOMAIN_QUERIES[domain](queries, owner_id, course_id, start, end)
        finally:
            self.in_flight -= 1
        figures["computedAt"] = rfc3339(self._clock())
        answer = CachedDomain.of(figures, self._encode(domain, figures))
        if lookup.key is not None:
            await self._cache.put(lookup.key, answer)
        return _Answer(answer, hit=False)
