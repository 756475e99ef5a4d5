"""Analytics service settings: every value from ``LECTERN_ANALYTICS_*`` variables, validated at start."""

from __future__ import annotations

from typing import ClassVar

from lectern_common.events import COURSE_TOPIC, ENGAGEMENT_TOPIC, MEDIA_TOPIC
from lectern_common.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LECTERN_ANALYTICS_", extra="ignore", frozen=True)

    production_checked: ClassVar[tuple[str, ...]] = (
        "database_url",
        "kafka_bootstrap",
        "redis_url",
        "internal_token_public_keys",
    )

    service_name: str = "analytics"
    grpc_port: int = 50053
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/lectern_analytics"

    # Topics: the engagement topic analytics writes (and folds, like any other producer's), and
    # the media and course topics it folds into its fact tables.
    engagement_topic: str = ENGAGEMENT_TOPIC
    media_topic: str = MEDIA_TOPIC
    course_topic: str = COURSE_TOPIC
    consumer_group: str = "lectern-analytics"

    # The per-domain dashboard cache (ARCHITECTURE flow 4: five minutes). Redis is an optimisation:
    # every call has a short timeout and a failure means "compute without the cache".
    cache_ttl_seconds: int = Field(default=300, ge=1)
    cache_key_prefix: str = "lectern:analytics"
    cache_timeout_seconds: float = Field(default=0.5, gt=0)

    # Dashboards: the longest range a query may cover, and the length of the "top" lists.
    max_range_days: int = Field(default=366, ge=1)
    top_list_size: int = Field(default=10, ge=1, le=100)

    # RecordEngagement: batch size, how far in the future ``at`` may be (client clocks drift), how
    # old a fact may be, and the value ranges per type.
    max_events_per_request: int = Field(default=500, ge=1)
    engagement_clock_skew_seconds: int = Field(default=120, ge=0)
    engagement_max_age_days: int = Field(default=366, ge=1)
    max_watch_seconds: float = Field(default=86_400, gt=0)
    max_sale_amount: float = Field(default=1_000_000, gt=0)
    # The currency every sale's ``value`` is in (ISO 4217); dashboards answer money in its minor
    # units (``dashboards.money``). Recording has no currency of its own: one platform, one price list.
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
