"""The one wiring point: engine, unit of work, services, gRPC server, outbox relay, consumer.

``async with CourseApp(settings) as app`` builds everything from settings and closes it on exit;
``app.parts()`` are the long-running pieces the Runtime (or a test) runs. Nothing connects until
a part runs or a query is made.
"""

from __future__ import annotations

from types import TracebackType

import grpc
from lectern_common.consumer import EventConsumer
from lectern_common.db import UnitOfWork, create_engine
from lectern_common.grpc_server import GrpcServer
from lectern_common.health import database_check
from lectern_common.idempotency import IdempotencyStore
from lectern_common.outbox import OutboxRelay, OutboxWriter
from lectern_common.runtime import Part

from lectern_course.courses.edit_cache import EditTreeCache
from lectern_course.courses.events import CourseEvents
from lectern_course.courses.service import CourseService
from lectern_course.editing.service import EditingService
from lectern_course.idempotent import IdempotentResults
from lectern_course.media_summaries.service import MediaSummaryService
from lectern_course.settings import CourseSettings
from lectern_course.transport.consumers import MediaEventHandler
from lectern_course.transport.grpc import SERVICE_NAME, CourseServicer, add_course_service
from lectern_course.transport.messages import encode_chapters


class CourseApp:
    def __init__(self, settings: CourseSettings) -> None:
        self.settings = settings
        # A fixed pool: under load, overflow connections were opened and closed every few RPCs.
        self.engine = create_engine(settings.database_url, pool_size=settings.database_pool_size, max_overflow=0)
        self.uow = UnitOfWork(self.engine)
        events = CourseEvents(OutboxWriter(), settings.course_topic)
        results = IdempotentResults(IdempotencyStore())
        self.edit_trees = EditTreeCache(encode_chapters, max_bytes=settings.edit_tree_cache_bytes)
        self.courses = CourseService(settings, events, results, self.edit_trees)
        self.editing = EditingService(settings, events, results, self.edit_trees)
        self.media_summaries = MediaSummaryService()
        self.servicer = CourseServicer(self.uow, self.courses, self.editing)
        self.grpc = GrpcServer.for_service(
            settings,
            register=self._register,
            service_names=[SERVICE_NAME],
            readiness_checks=[database_check(self.engine)],
        )
        self.relay = OutboxRelay.for_service(self.engine, settings)
        self.media_events = MediaEventHandler(self.media_summaries, self.editing)
        self.consumer = EventConsumer(
            name="course-media",
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.consumer_group,
            topics=[settings.media_topic],
            uow=self.uow,
            handler=self.media_events,
            # media.link.* and the rest pass without a transaction: course acts only on file changes.
            event_types=self.media_events.event_types,
        )

    def _register(self, server: grpc.aio.Server) -> None:
        add_course_service(self.servicer, server)

    def parts(self) -> dict[str, Part]:
        return {"grpc": self.grpc.run, "outbox-relay": self.relay.run, "media-consumer": self.consumer.run}

    async def __aenter__(self) -> CourseApp:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.engine.dispose()
