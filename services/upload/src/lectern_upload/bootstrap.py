"""The one wiring point: everything the upload service runs, built from settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from lectern.upload.v1 import upload_pb2_grpc
from lectern_common.consumer import EventConsumer
from lectern_common.db import UnitOfWork, create_engine
from lectern_common.grpc_server import GrpcServer
from lectern_common.health import database_check, run_checks, tcp_check
from lectern_common.objectstore import ObjectStore, S3ObjectStore
from lectern_common.outbox import OutboxRelay, OutboxWriter
from lectern_common.realtime_publisher import RealtimePublisher
from lectern_common.runtime import Runtime

from lectern_upload.progress.publisher import ProgressPublisher
from lectern_upload.settings import UploadSettings
from lectern_upload.storage.buffer_pool import PartBufferPool
from lectern_upload.tokens import UploadTokens
from lectern_upload.transport.consumers import UploadEventHandler
from lectern_upload.transport.grpc import UploadServicer
from lectern_upload.transport.http_server import HttpServer
from lectern_upload.transport.tus import TusApp
from lectern_upload.uploads.locks import UploadLocks
from lectern_upload.uploads.service import UploadService, run_janitor

SERVICE_NAME = "lectern.upload.v1.UploadService"


@dataclass
class UploadApp:
    settings: UploadSettings
    service: UploadService
    tokens: UploadTokens
    store: ObjectStore
    publisher: ProgressPublisher
    http: HttpServer
    grpc: GrpcServer
    relay: OutboxRelay
    consumer: EventConsumer
    buffers: PartBufferPool
    runtime: Runtime = field(default_factory=Runtime)

    def add_parts(self, runtime: Runtime) -> None:
        s = self.settings
        runtime.add("http", self.http.run)
        runtime.add("grpc", self.grpc.run)
        runtime.add("outbox-relay", self.relay.run)
        runtime.add("media-events", self.consumer.run)
        runtime.add("janitor", partial(run_janitor, self.service, interval=s.janitor_interval_seconds))


@asynccontextmanager
async def build(settings: UploadSettings, *, publisher: ProgressPublisher | None = None) -> AsyncIterator[UploadApp]:
    """Build the service's parts (nothing connects until they run); close them on exit."""
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    store = S3ObjectStore(
        endpoint_url=settings.s3_endpoint,
        bucket=settings.s3_bucket,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        region=settings.s3_region,
        max_pool_connections=64,
        payload_signing=settings.s3_payload_signing,
    )
    own_publisher = publisher is None
    publisher = publisher or RealtimePublisher(
        settings.realtime_publish_url,
        settings.realtime_publish_token.get_secret_value(),
        timeout=settings.progress_timeout_seconds,
        failure_threshold=settings.progress_breaker_failures,
        open_seconds=settings.progress_breaker_open_seconds,
    )
    tokens = UploadTokens(
        settings.upload_token_secret.get_secret_value(), creation_ttl_seconds=settings.creation_token_ttl_seconds
    )
    buffers = PartBufferPool(
        part_size=settings.part_size_bytes,
        budget_bytes=settings.part_buffer_budget_bytes,
        keep_idle=settings.part_upload_concurrency + 1,
    )
    service = UploadService(
        settings=settings,
        uow=UnitOfWork(engine),
        store=store,
        locks=UploadLocks(engine),
        tokens=tokens,
        publisher=publisher,
        outbox=OutboxWriter(),
        buffers=buffers,
    )
    checks = [database_check(engine), tcp_check(settings.s3_endpoint, name="object store")]

    async def readiness() -> list[str]:
        return await run_checks(checks)

    tus = TusApp(service, tokens, settings, readiness=readiness)
    http = HttpServer(
        tus.app, host=settings.bind_host, port=settings.http_port, grace_seconds=settings.shutdown_grace_seconds
    )
    servicer = UploadServicer(service)
    grpc_server = GrpcServer.for_service(
        settings,
        register=lambda server: upload_pb2_grpc.add_UploadServiceServicer_to_server(servicer, server),
        service_names=[SERVICE_NAME],
        readiness_checks=checks,
        tracing=bool(settings.otlp_endpoint),
    )
    relay = OutboxRelay.for_service(engine, settings)
    handler = UploadEventHandler(service)
    consumer = EventConsumer(
        name="upload",
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.consumer_group,
        topics=[settings.media_topic],
        uow=UnitOfWork(engine),
        handler=handler,
        event_types=handler.event_types,
    )
    try:
        yield UploadApp(settings, service, tokens, store, publisher, http, grpc_server, relay, consumer, buffers)
    finally:
        if own_publisher:
            await publisher.aclose()
        await engine.dispose()
        await asyncio.sleep(0)
