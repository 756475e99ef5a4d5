"""The one wiring point: engine, cache, unit of work, services, gRPC server, outbox relay, consumer.

``async with AnalyticsApp(settings) as app`` builds everything from settings and closes it on
exit; ``app.parts()`` are the long-running pieces the Runtime (or a test) runs. Nothing connects
until a part runs or a query is made (the Redis client connects on first use).
"""

from __future__ import annotations

from types import TracebackType

import grpc
from lectern_common.consumer import EventConsumer
from lectern_common.db import create_engine
from lectern_common.grpc_server import GrpcServer
from lectern_common.health import database_check
from lectern_common.idempotency import IdempotencyStore
from lectern_common.outbox import OutboxRelay, OutboxWriter
from lectern_common.runtime import Part
from redis.asyncio import Redis

from lectern_analytics.dashboards.cache import DomainCache, InvalidatingUnitOfWork
from lectern_analytics.dashboards.service import DashboardService
from lectern_analytics.engagement.service import EngagementService
from lectern_analytics.facts.service import FactService
from lectern_analytics.settings import AnalyticsSettings
from lectern_analytics.transport.consumers import AnalyticsEventHandler
from lectern_analytics.transport.grpc import SERVICE_NAME, AnalyticsServicer, add_analytics_service, encode_domain


class AnalyticsApp:
    def __init__(self, settings: AnalyticsSettings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        self.redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.cache_timeout_seconds,
            socket_connect_timeout=settings.cache_timeout_seconds,
        )
        self.cache = DomainCache(
            self.redis,
            prefix=settings.cache_key_prefix,
            ttl_seconds=settings.cache_ttl_seconds,
            timeout_seconds=settings.cache_timeout_seconds,
        )
        # Every write (RPC or event) invalidates the cached domains it changed once it commits.
        self.uow = InvalidatingUnitOfWork(self.engine, self.cache)
        self.engagement = EngagementService(settings, OutboxWriter(), IdempotencyStore())
        self.facts = FactService(self.engagement)
        self.dashboards = DashboardService(settings, self.uow, self.cache, encode_domain)
        self.servicer = AnalyticsServicer(self.uow, self.dashboards, self.engagement)
        self.grpc = GrpcServer.for_service(
            settings,
            register=self._register,
            service_names=[SERVICE_NAME],
            # Redis is not a readiness dependency: without it dashboards are computed uncached.
            readiness_checks=[database_check(self.engine)],
        )
        self.relay = OutboxRelay.for_service(self.engine, settings)
        self.events = AnalyticsEventHandler(self.facts)
        self.consumer = EventConsumer(
            name="analytics",
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.consumer_group,
            topics=[settings.media_topic, settings.course_topic, settings.engagement_topic],
            uow=self.uow,
            handler=self.events,
            event_types=self.events.event_types,
            batch_handler=self.events.fold_batch,
        )

    def _register(self, server: grpc.aio.Server) -> None:
        add_analytics_service(self.servicer, server)

    def parts(self) -> dict[str, Part]:
        return {"grpc": self.grpc.run, "outbox-relay": self.relay.run, "event-consumer": self.consumer.run}

    async def __aenter__(self) -> AnalyticsApp:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.redis.aclose()
        await self.engine.dispose()
