"""The one wiring point: builds everything the media service runs from its settings, and closes it.

Tests use the same ``MediaApp`` in-process, so they exercise the real wiring.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from types import TracebackType

from lectern.media.v1 import media_pb2_grpc
from lectern_common.consumer import EventConsumer
from lectern_common.db import UnitOfWork, create_engine
from lectern_common.grpc_server import GrpcServer
from lectern_common.health import database_check
from lectern_common.idempotency import IdempotencyStore
from lectern_common.identity import InternalTokenIssuer
from lectern_common.migrations import migrations_dir
from lectern_common.objectstore import ObjectStore, S3ObjectStore
from lectern_common.outbox import OutboxRelay, OutboxWriter
from lectern_common.runtime import Part

from lectern_media.audit.service import AuditService
from lectern_media.course_directory import CourseDirectory
from lectern_media.deletion.purge import PurgeJob
from lectern_media.deletion.service import DeletionService
from lectern_media.events import MediaEvents
from lectern_media.library.service import LibraryService
from lectern_media.links.service import LinkService
from lectern_media.probing.runner import ProbeRunner
from lectern_media.probing.schemas import ProbeLimits
from lectern_media.probing.service import ProbingService, StorageAccess
from lectern_media.probing.worker import ProbeWorker
from lectern_media.settings import MediaSettings
from lectern_media.transport.consumers import MediaEventHandler
from lectern_media.transport.course_client import GrpcCourseDirectory
from lectern_media.transport.grpc import SERVICE_NAME, MediaServicer

log = logging.getLogger(__name__)

MIGRATIONS_DIR = migrations_dir(None, __file__)


class ObjectStoreRegistry:
    """One S3ObjectStore per bucket, made on first use (files remember the bucket they landed in)."""

    def __init__(self, settings: MediaSettings) -> None:
        self._settings = settings
        self._stores: dict[str, ObjectStore] = {}

    def __call__(self, bucket: str) -> ObjectStore:
        if bucket not in self._stores:
            s = self._settings
            self._stores[bucket] = S3ObjectStore(
                endpoint_url=s.s3_endpoint,
                bucket=bucket or s.s3_bucket,
                access_key=s.s3_access_key.get_secret_value(),
                secret_key=s.s3_secret_key.get_secret_value(),
                region=s.s3_region,
            )
        return self._stores[bucket]


class MediaApp:
    """Everything media runs, built from settings; ``async with MediaApp(settings) as app``.

    Building it makes nothing loop-bound (no channel, client or future): those are opened on
    entry, in the loop that runs the parts.
    """

    def __init__(self, settings: MediaSettings, *, course_directory: CourseDirectory | None = None) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        self.uow = UnitOfWork(self.engine)
        # Its gRPC channel is opened on entry, inside the running loop (see __aenter__); a bench
        # or test may hand in its own directory instead.
        self._course_client: GrpcCourseDirectory | None = None
        if course_directory is None:
            self._course_client = course_directory = _course_client(settings)
        self.course_directory = course_directory
        self.object_stores = ObjectStoreRegistry(settings)
        events = MediaEvents(OutboxWriter(), topic=settings.media_topic)
        self.probing = _probing_service(settings, events)
        self.probe_worker = ProbeWorker(
            self.uow,
            self.probing,
            ProbeRunner(slots=settings.probe_concurrency),
            concurrency=settings.probe_concurrency,
            idle_poll_seconds=settings.probe_idle_poll_seconds,
        )
        self.library = LibraryService(events, self.probing)
        self.links = LinkService(self.course_directory, events)
        self.deletion = DeletionService(
            self.course_directory,
            events,
            self.object_stores,
            uow=self.uow,
            retention=timedelta(days=settings.retention_days),
        )
        self.audit = AuditService()
        self.servicer = MediaServicer(
            uow=self.uow,
            library=self.library,
            links=self.links,
            deletion=self.deletion,
            audit=self.audit,
            idempotency=IdempotencyStore(),
        )
        self.grpc_server = GrpcServer.for_service(
            settings,
            register=lambda server: media_pb2_grpc.add_MediaServiceServicer_to_server(self.servicer, server),
            service_names=[SERVICE_NAME],
            readiness_checks=[database_check(self.engine)],
        )
        self.event_handler = MediaEventHandler(self.library, self.links)
        self.consumer = _event_consumer(settings, self.uow, self.event_handler)
        self.relay = OutboxRelay.for_service(self.engine, settings)
        self.purge_job = PurgeJob(
            self.uow, self.deletion, interval=settings.purge_interval_seconds, batch_size=settings.purge_batch_size
        )

    def parts(self) -> dict[str, Part]:
        """Every long-running part, for one Runtime."""
        return {
            "grpc": self.grpc_server.run,
            "outbox-relay": self.relay.run,
            "consumer": self.consumer.run,
            "purge": self.purge_job.run,
            "probe": self.probe_worker.run,
        }

    async def __aenter__(self) -> MediaApp:
        if self._course_client is not None:
            await self._course_client.open()
        # boto3 builds its client for seconds of CPU on a loaded machine (it parses botocore's
        # models): in a thread, before serving, not inside the first hard delete's RPC.
        await asyncio.to_thread(self.object_stores, self.settings.s3_bucket)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Object deletions started by hard deletes finish before the engine closes.
        await self.deletion.objects.drain()
        if self._course_client is not None:
            await self._course_client.aclose()
        await self.engine.dispose()


def _course_client(settings: MediaSettings) -> GrpcCourseDirectory:
    """Course over gRPC, called with media's own internal tokens."""
    issuer = InternalTokenIssuer(settings.internal_signing_key, ttl_seconds=settings.internal_token_ttl_seconds)
    return GrpcCourseDirectory(settings.course_grpc_target, issuer, timeout=settings.course_call_timeout_seconds)


def _probing_service(settings: MediaSettings, events: MediaEvents) -> ProbingService:
    storage = StorageAccess(
        endpoint_url=settings.s3_endpoint,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        region=settings.s3_region,
    )
    limits = ProbeLimits(
        memory_bytes=settings.probe_memory_mib * 1024 * 1024,
        timeout_seconds=settings.probe_timeout_seconds,
        max_read_bytes=settings.probe_max_read_mib * 1024 * 1024,
        block_bytes=settings.probe_block_kib * 1024,
    )
    return ProbingService(
        events,
        storage,
        limits,
        max_attempts=settings.probe_max_attempts,
        retry_after=timedelta(seconds=settings.probe_retry_seconds),
        lease_margin=timedelta(seconds=settings.probe_lease_margin_seconds),
    )


def _event_consumer(settings: MediaSettings, uow: UnitOfWork, handler: MediaEventHandler) -> EventConsumer:
    """Upload's and course's events, into the library and the links."""
    return EventConsumer(
        name="media",
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.consumer_group,
        topics=[settings.upload_topic, settings.course_topic],
        uow=uow,
        handler=handler,
        event_types=handler.event_types,
    )
