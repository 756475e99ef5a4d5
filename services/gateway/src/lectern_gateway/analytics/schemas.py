"""Analytics actions: dashboards and engagement facts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from lectern_gateway.actions.schemas import DataModel, Identifier, InputModel, Instant

DashboardName = Literal["storage", "content", "roi", "capacity"]


class DashboardInput(InputModel):
    dashboard: DashboardName
    from_: Instant = Field(alias="from")
    to: Instant
    course_id: Identifier | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DashboardInput:
        if self.to < self.from_:
            raise ValueError("to must not be before from")
        return self


class EngagementEventInput(InputModel):
    type: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$")]
    course_id: Identifier
    lesson_id: Identifier | None = None
    media_id: Identifier | None = None
    at: Instant
    value: Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)] | None = None


class RecordEngagementInput(InputModel):
    events: list[EngagementEventInput] = Field(min_length=1, max_length=500)


# ---- dashboard domains (one schema each; analytics.proto has the same messages) ------------------


class Money(DataModel):
    currency: str = Field(description="ISO 4217 code, e.g. USD.")
    amount_minor: int = Field(description="Integer minor units of the currency (cents for USD, yen for JPY).")


class FilesAndBytes(DataModel):
    files: int
    bytes: int


class StorageByMimeType(DataModel):
    mime_type: str
    files: int
    bytes: int


class StorageByStatus(DataModel):
    status: Literal["processing", "ready", "failed"]
    files: int
    bytes: int


class StorageDomain(DataModel):
    """Live media (snapshot of now); ``reclaimable`` = soft deleted, not yet purged."""

    total_files: int
    total_bytes: int
    by_mime_type: list[StorageByMimeType]
    by_status: list[StorageByStatus]
    reclaimable: FilesAndBytes
    computed_at: datetime


class MediaUsageItem(DataModel):
    media_id: str
    title: str
    file_name: str
    size_bytes: int
    usage_count: int
    created_at: datetime


class UnusedMedia(DataModel):
    files: int
    bytes: int
    largest: list[MediaUsageItem]


class UsageDomain(DataModel):
    """Unused files (cleanup opportunities) and the most used ones (snapshot of now)."""

    unused: UnusedMedia
    used: FilesAndBytes
    top_used: list[MediaUsageItem]
    computed_at: datetime


class ContentDomain(DataModel):
    courses: int
    lessons: int
    lessons_with_media: int
    media_files: int
    media_ready: int
    computed_at: datetime


class EngagementFigures(DataModel):
    views: int
    watch_seconds: float
    completions: int
    ratings: int
    average_rating: float | None = Field(default=None, description="Null without ratings.")


class CourseEngagement(EngagementFigures):
    course_id: str
    title: str


class LessonEngagement(EngagementFigures):
    course_id: str
    lesson_id: str
    title: str


class MediaEngagement(EngagementFigures):
    media_id: str


class EngagementDomain(DataModel):
    """Engagement facts in [from, to)."""

    totals: EngagementFigures
    per_course: list[CourseEngagement]
    per_lesson: list[LessonEngagement]
    per_media: list[MediaEngagement]
    computed_at: datetime


class CourseSales(DataModel):
    course_id: str
    title: str
    sales: int
    revenue: Money


class SalesDomain(DataModel):
    """Sales in [from, to), in the platform's currency."""

    total_revenue: Money
    total_sales: int
    per_course: list[CourseSales]
    computed_at: datetime


class ProductionFigures(DataModel):
    media_files: int
    media_bytes: int
    media_minutes: float


class CourseProduction(ProductionFigures):
    course_id: str
    title: str


class ProductionDomain(DataModel):
    """Media files, bytes and minutes per course (a production-cost proxy; snapshot of now)."""

    totals: ProductionFigures = Field(description="A file shared by two courses counts once.")
    per_course: list[CourseProduction]
    computed_at: datetime


class CourseRoi(DataModel):
    course_id: str
    revenue: Money
    media_bytes: int
    revenue_per_gb: Money | None = Field(default=None, description="Null when the course holds no media bytes.")


class RoiCombined(DataModel):
    """Derived in the response from ``sales`` and ``production``; never cached itself."""

    revenue_per_gb: Money | None = Field(
        default=None, description="Revenue per 10^9 bytes of media; null without media bytes."
    )
    per_course: list[CourseRoi]


class Trend(DataModel):
    slope_per_day: float
    intercept: float
    direction: Literal["up", "down", "flat"]


class StorageGrowthDay(DataModel):
    day: date = Field(description="The UTC day (RFC 3339 full-date).")
    files: int
    bytes_added: int


class StorageGrowthDomain(DataModel):
    total_files: int
    total_bytes_added: int
    per_day: list[StorageGrowthDay]
    trend: Trend
    computed_at: datetime


class EngagementGrowthDay(DataModel):
    day: date = Field(description="The UTC day (RFC 3339 full-date).")
    events: int
    views: int
    completions: int
    sales: int


class EngagementGrowthDomain(DataModel):
    total_events: int
    per_day: list[EngagementGrowthDay]
    trend: Trend
    computed_at: datetime


def _absent_unless_set() -> Any:
    return Field(default=None, exclude_if=lambda value: value is None)


class DashboardDomains(DataModel):
    """Only the dashboard's own domains are present: storage = storage, usage; content = content,
    engagement; roi = sales, engagement, production, combined; capacity = storageGrowth,
    engagementGrowth."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, json_schema_serialization_defaults_required=False
    )

    # Absent (never null) unless the dashboard combines the domain: the envelope's shape.
    storage: StorageDomain | None = _absent_unless_set()
    usage: UsageDomain | None = _absent_unless_set()
    content: ContentDomain | None = _absent_unless_set()
    engagement: EngagementDomain | None = _absent_unless_set()
    sales: SalesDomain | None = _absent_unless_set()
    production: ProductionDomain | None = _absent_unless_set()
    combined: RoiCombined | None = _absent_unless_set()
    storage_growth: StorageGrowthDomain | None = _absent_unless_set()
    engagement_growth: EngagementGrowthDomain | None = _absent_unless_set()


class Dashboard(DataModel):
    dashboard: DashboardName
    domains: DashboardDomains = Field(description="One entry per domain the dashboard combines.")
    generated_at: datetime


class EngagementAccepted(DataModel):
    accepted: int
    rejected: int = Field(description="Invalid events skipped while others were accepted.")
    rejected_fields: dict[str, str] = Field(description="Why, keyed `events.<i>.<field>`.")
