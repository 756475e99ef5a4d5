"""The one wiring point: Redis clients, store, hub, publish core, consumer, ASGI app, HTTP server.

``async with build_realtime(settings) as realtime:`` gives a replica whose long-running parts
(``realtime.parts()``) are run by ``lectern_common.runtime.Runtime`` in ``__main__`` and by the
tests directly, so tests exercise the same wiring as production.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import uvicorn
from lectern_common.rate_limits import Bucket, RateLimiter
from lectern_common.realtime_tokens import RealtimeTokenVerifier
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection

from lectern_realtime.broker.repository import ChannelStore, DeadLetterStore
from lectern_realtime.broker.subscriber import ChannelSubscriber
from lectern_realtime.connections.service import Hub
from lectern_realtime.errors import CLOSE_GOING_AWAY, CLOSE_TRY_AGAIN
from lectern_realtime.events.service import EventTranslator
from lectern_realtime.publishing.service import PublishService
from lectern_realtime.settings import RealtimeSettings
from lectern_realtime.transport.asgi import RealtimeApp
from lectern_realtime.transport.consumers import EventFanoutConsumer

log = logging.getLogger(__name__)

Part = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the Runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Realtime:
    """One replica, wired."""

    def __init__(self, settings: RealtimeSettings, redis: Redis, pubsub_pool: ConnectionPool) -> None:
        self.settings = settings
        self.store = ChannelStore(
            redis,
            prefix=settings.redis_prefix,
            history_size=settings.history_size,
            history_ttl_seconds=settings.history_ttl_seconds,
            seq_ttl_seconds=settings.seq_ttl_seconds,
            dedup_ttl_seconds=settings.dedup_ttl_seconds,
        )
        self._pubsub_pool = pubsub_pool
        self.subscriber = ChannelSubscriber(
            self._connect_pubsub,
            on_message=lambda channel, seq, text: self.hub.deliver(channel, seq, text),
            on_lost=lambda: self.hub.close_all(CLOSE_TRY_AGAIN, "broker connection lost; reconnect with since"),
        )
        self.hub = Hub(self.store, self.subscriber, max_subscriptions=settings.max_subscriptions)
        self.publisher = PublishService(self.store, max_message_bytes=settings.max_message_bytes)
        self.translator = EventTranslator(
            upload_topic=settings.upload_topic, media_topic=settings.media_topic, course_topic=settings.course_topic
        )
        self.dead_letters = DeadLetterStore(redis, prefix=settings.redis_prefix)
        self.consumer = EventFanoutConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.consumer_group,
            translator=self.translator,
            publisher=self.publisher,
            dead_letters=self.dead_letters,
        )
        self.app = RealtimeApp(
            hub=self.hub,
            publisher=self.publisher,
            verifier=RealtimeTokenVerifier(settings.realtime_verifying_keys),
            publish_token=settings.realtime_publish_token.get_secret_value(),
            readiness=self._readiness,
            queue_size=settings.send_queue_size,
            max_incoming_bytes=settings.max_incoming_bytes,
            close_on_token_expiry=settings.close_on_token_expiry,
            connect_limiter=RateLimiter(redis, prefix=settings.redis_prefix),
            connect_bucket=Bucket("ws-connect", settings.ws_connects_per_minute, settings.ws_connects_burst),
        )
        # The internal port: POST /v1/publish from services, never exposed outside the cluster.
        self.publish_server = _Server(
            uvicorn.Config(
                self.app.publish_app,
                host=settings.bind_host,
                port=settings.publish_port,
                loop="none",
                lifespan="off",
                http="httptools",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            )
        )
        self.server = _Server(
            uvicorn.Config(
                self.app,
                host=settings.bind_host,
                port=settings.http_port,
                loop="none",
                lifespan="off",
                http="httptools",
                ws="websockets-sansio",
                ws_max_size=settings.max_incoming_bytes,
                ws_ping_interval=settings.ws_ping_interval_seconds,
                ws_ping_timeout=settings.ws_ping_timeout_seconds,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
                backlog=4096,
            )
        )

    @property
    def pubsub_client_name(self) -> str:
        """This replica's subscriber connection as CLIENT LIST names it."""
        return str(self._pubsub_pool.connection_kwargs["client_name"])

    async def _connect_pubsub(self) -> AbstractConnection:
        connection = self._pubsub_pool.make_connection()
        await connection.connect()
        return connection

    async def _readiness(self) -> list[str]:
        failures = []
        try:
            await asyncio.wait_for(self.store.ping(), timeout=self.settings.redis_timeout_seconds)
        except Exception as exc:
            # Readiness answers are public: the reason goes to the log, the answer names the part.
            log.warning("readiness: redis ping failed: %r", exc)
            failures.append("redis: unavailable")
        if not self.subscriber.connected.is_set():
            failures.append("pub/sub connection: not connected")
        return failures

    def parts(self) -> list[tuple[str, Part]]:
        """The long-running parts of this replica, for the Runtime."""
        parts: list[tuple[str, Part]] = [("pubsub", self.subscriber.run), ("http", self.serve_http)]
        if self.settings.consume_events:
            parts.append(("events", self.consumer.run))
        return parts

    async def run(self, stop: asyncio.Event) -> None:
        """All parts until ``stop`` (tests; ``__main__`` uses the Runtime for signals and failures)."""
        await asyncio.gather(*(part(stop) for _, part in self.parts()))

    async def serve_http(self, stop: asyncio.Event) -> None:
        """Serve both ports until ``stop``, then drain: sockets get 1001 "going away" so clients
        reconnect elsewhere; the publish port closes last (publishers may still flush)."""
        server_task = asyncio.create_task(self.server.serve())
        publish_task = asyncio.create_task(self.publish_server.serve())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({server_task, publish_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if server_task.done() or publish_task.done():
            # A server died on its own (port taken): stop the other one and fail the part.
            self.server.should_exit = self.publish_server.should_exit = True
            await asyncio.gather(server_task, publish_task, return_exceptions=True)
            for task in (server_task, publish_task):
                task.result()
            raise RuntimeError("HTTP server stopped unexpectedly")
        self.app.draining = True
        self.hub.close_all(CLOSE_GOING_AWAY, "server shutting down")
        deadline = asyncio.get_running_loop().time() + min(5.0, self.settings.shutdown_grace_seconds / 2)
        while self.hub.connections and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        self.server.should_exit = True
        await server_task
        self.publish_server.should_exit = True
        await publish_task

    async def wait_started(self, timeout: float = 10.0) -> None:
        """Until the HTTP server listens and the pub/sub connection is up (tests, bench)."""
        async with asyncio.timeout(timeout):
            while not (self.server.started and self.publish_server.started):  # noqa: ASYNC110 (no event)
                await asyncio.sleep(0.01)
            await self.subscriber.connected.wait()


def pubsub_client_name(settings: RealtimeSettings) -> str:
    """The subscriber connection's CLIENT SETNAME: unique a replica, so it can be found and killed."""
    return f"{settings.service_name}-pubsub-{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def build_realtime(settings: RealtimeSettings) -> AsyncIterator[Realtime]:
    timeout = settings.redis_timeout_seconds
    # A blocking pool: a burst of reconnecting tabs (a replica restarted) waits for a connection
    # instead of failing with "too many connections".
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_wait_seconds,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    redis = Redis(connection_pool=pool)
    # The subscriber's own connection (decoded replies; it reads without a timeout and finds a dead
    # peer with PING). Its name lets an operator (or a test) find it in CLIENT LIST.
    pubsub_pool = ConnectionPool.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        client_name=pubsub_client_name(settings),
    )
    try:
        yield Realtime(settings, redis, pubsub_pool)
    finally:
        await redis.aclose()
        await pool.aclose()
        await pubsub_pool.aclose()
