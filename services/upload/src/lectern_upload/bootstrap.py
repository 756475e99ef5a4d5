"""The one wiring point: builds everything the upload service runs from its settings, and closes it.

Tests use the same ``UploadApp`` in-process, so they exercise the real wiring. Building it makes
nothing loop-bound (no channel, client or future); the parts open those when they run.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from lectern.upload.v1 import upload_pb2_grpc
from lectern_common.consumer import EventConsumer
from lectern_common.db import UnitOfWork, create_engine
from lectern_common.grpc_server import GrpcServer
from lectern_common.health import database_check, run_checks, tcp_check
from lectern_common.http_server import HttpServer
from lectern_common.objectstore import ObjectStore
from lectern_common.outbox import OutboxRelay, OutboxWriter
from lectern_common.runtime import Part
from lectern_common.s3_http import HttpS3ObjectStore

from lectern_upload.access.tokens import UploadTokens
from lectern_upload.events import UploadEvents
from lectern_upload.expiry.janitor import ExpiryJanitor
from lectern_upload.process_tuning import tune_loop
from lectern_upload.progress.publisher import ProgressPublisher, ProgressThrottles
from lectern_upload.settings import UploadSettings
from lectern_upload.storage.buffer_pool import PartBufferPool
from lectern_upload.storage.upload_objects import UploadObjects
from lectern_upload.transport.consumers import UploadEventHandler
from lectern_upload.transport.grpc import UploadServicer
from lectern_upload.transport.tus import TusApp
from lectern_upload.uploads.endings import UploadEndings
from lectern_upload.uploads.locks import UploadLocks
from lectern_upload.uploads.quota import UploadQuota
from lectern_upload.uploads.service import UploadService, utcnow
from lectern_upload.writing.completion import Completion
from lectern_upload.writing.patch import WriteTools
from lectern_upload.writing.service import WriteService

SERVICE_NAME = "lectern.upload.v1.UploadService"


def _object_store(settings: UploadSettings) -> HttpS3ObjectStore:
    # Not boto3's client: ~25 MiB less RSS and UploadPart without botocore's per-call work
    # (bench/upload); the same requests, retries and the one ObjectStoreUnavailable.
    return HttpS3ObjectStore(
        endpoint_url=settings.s3_endpoint,
        bucket=settings.s3_bucket,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        region=settings.s3_region,
        max_pool_connections=64,
        payload_signing=settings.s3_payload_signing,
    )


def _publisher(settings: UploadSettings) -> ProgressPublisher:
    # Imported only when made: it imports httpx, which process_tuning.skip_httpx_cli must precede
    # (__main__ imports this module before run_service calls tune_process).
    from lectern_common.realtime_publisher import RealtimePublisher

    return RealtimePublisher(
        settings.realtime_publish_url,
        settings.realtime_publish_token.get_secret_value(),
        timeout=settings.progress_timeout_seconds,
        failure_threshold=settings.progress_breaker_failures,
        open_seconds=settings.progress_breaker_open_seconds,
    )


class UploadApp:
    """Everything upload runs, built from settings; ``async with UploadApp(settings) as app``."""

    def __init__(self, settings: UploadSettings, *, publisher: ProgressPublisher | None = None) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        self.uow = UnitOfWork(self.engine)
        self._s3 = _object_store(settings)
        self.store: ObjectStore = self._s3
        self._own_publisher = publisher is None
        self.publisher: ProgressPublisher = publisher or _publisher(settings)
        self.tokens = UploadTokens(
            settings.upload_token_secret.get_secret_value(), creation_ttl_seconds=settings.creation_token_ttl_seconds
        )
        self.buffers = PartBufferPool(
            part_size=settings.part_size_bytes,
            budget_bytes=settings.part_buffer_budget_bytes,
            keep_idle=settings.part_upload_concurrency + 1,
        )
        self._trim: asyncio.TimerHandle | None = None
        self._build_core()
        self._build_doors()

    def _build_core(self) -> None:
        """The rules: creation and reads, writing a PATCH, and the expiry janitor."""
        s, uow = self.settings, self.uow
        locks = UploadLocks(self.engine)
        objects = UploadObjects(self.store, read_slice_bytes=s.part_size_bytes)
        events = UploadEvents(OutboxWriter())
        endings = UploadEndings(uow=uow, objects=objects, events=events, clock=utcnow)
        quota = UploadQuota(s)
        self.service = UploadService(
            settings=s,
            uow=uow,
            bucket=self.store.bucket,
            locks=locks,
            tokens=self.tokens,
            events=events,
            quota=quota,
            endings=endings,
        )
        progress = ProgressThrottles()
        completion = Completion(
            uow=uow, objects=objects, events=events, endings=endings, progress=progress, clock=utcnow
        )
        tools = WriteTools(
            settings=s,
            uow=uow,
            objects=objects,
            buffers=self.buffers,
            quota=quota,
            completion=completion,
            publisher=self.publisher,
            progress=progress,
            clock=utcnow,
        )
        self.writes = WriteService(tools, locks)
        self.janitor = ExpiryJanitor(
            uow=uow,
            locks=locks,
            endings=endings,
            objects=objects,
            storage_prefix=s.storage_prefix,
            interval=s.janitor_interval_seconds,
            clock=utcnow,
        )

    def _build_doors(self) -> None:
        """The doors onto the rules: tus over HTTP, gRPC, and the consumer of media's events."""
        s = self.settings
        checks = [database_check(self.engine), tcp_check(s.s3_endpoint, name="object store")]

        async def readiness() -> list[str]:
            return await run_checks(checks)

        tus = TusApp(self.service, self.writes, self.tokens, s, readiness=readiness)
        self.http_server = HttpServer(
            tus.app,
            host=s.bind_host,
            port=s.http_port,
            grace_seconds=s.shutdown_grace_seconds,
            name="tus",
            http="httptools",
            timeout_keep_alive=30,
        )
        servicer = UploadServicer(self.service)
        self.grpc_server = GrpcServer.for_service(
            s,
            register=lambda server: upload_pb2_grpc.add_UploadServiceServicer_to_server(servicer, server),
            service_names=[SERVICE_NAME],
            readiness_checks=checks,
            tracing=bool(s.otlp_endpoint),
        )
        self.relay = OutboxRelay.for_service(self.engine, s)
        handler = UploadEventHandler(self.service)
        self.consumer = EventConsumer(
            name="upload",
            bootstrap_servers=s.kafka_bootstrap,
            group_id=s.consumer_group,
            topics=[s.media_topic],
            uow=self.uow,
            handler=handler,
            event_types=handler.event_types,
        )

    def parts(self) -> dict[str, Part]:
        """Every long-running part, for one Runtime."""
        return {
            "http": self.http_server.run,
            "grpc": self.grpc_server.run,
            "outbox-relay": self.relay.run,
            "media-events": self.consumer.run,
            "janitor": self.janitor.run,
        }

    async def aclose(self) -> None:
        if self._trim is not None:
            self._trim.cancel()
        if self._own_publisher:
            await self.publisher.aclose()
        await self.engine.dispose()
        self._s3.close()
        await asyncio.sleep(0)

    async def __aenter__(self) -> UploadApp:
        self._trim = tune_loop()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
