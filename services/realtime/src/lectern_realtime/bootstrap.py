"""The one wiring point: ``RealtimeApp(settings)``, built inside the running loop.

``python -m lectern_realtime`` serves it through ``lectern_common.service_cli.run_service``;
the tests and the bench build the same app in-process (``async with RealtimeApp(settings)``) and
run its ``parts()``, so they exercise the wiring production runs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from types import TracebackType

from lectern_common.http_server import HttpServer
from lectern_common.rate_limits import Bucket, RateLimiter
from lectern_common.realtime_tokens import RealtimeTokenVerifier
from lectern_common.runtime import Part
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection

from lectern_realtime.broker.repository import ChannelStore, DeadLetterStore
from lectern_realtime.broker.subscriber import ChannelSubscriber
from lectern_realtime.connections.hub import Hub
from lectern_realtime.connections.service import ConnectionService
from lectern_realtime.errors import CLOSE_TRY_AGAIN
from lectern_realtime.events.service import EventTranslator
from lectern_realtime.publishing.service import PublishService
from lectern_realtime.settings import RealtimeSettings
from lectern_realtime.transport.asgi import RealtimeAsgi
from lectern_realtime.transport.consumers import EventFanoutConsumer
from lectern_realtime.transport.websocket_protocol import LeanWebSocketProtocol, encode_text_frame

log = logging.getLogger(__name__)


def _redis(settings: RealtimeSettings) -> Redis:
    # A blocking pool: a burst of reconnecting tabs (a replica restarted) waits for a connection
    # instead of failing with "too many connections".
    timeout = settings.redis_timeout_seconds
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_wait_seconds,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the pool


def _pubsub_pool(settings: RealtimeSettings) -> ConnectionPool:
    # The subscriber's own connection (decoded replies; it reads without a timeout and finds a dead
    # peer with PING). Its name, unique a replica, lets an operator (or a test) find it in CLIENT LIST.
    return ConnectionPool.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        decode_responses=True,
        client_name=f"{settings.service_name}-pubsub-{uuid.uuid4().hex[:12]}",
    )


class RealtimeApp:
    """One replica, wired: ``async with RealtimeApp(settings) as app``, then run ``app.parts()``."""

    def __init__(self, settings: RealtimeSettings) -> None:
        self.settings = settings
        self.redis = _redis(settings)
        self._pubsub_pool = _pubsub_pool(settings)
        self._build_core()
        self._build_doors()

    def _build_core(self) -> None:
        """The rules: channels in Redis, this replica's subscriptions and sockets, publishing."""
        s = self.settings
        self.store = ChannelStore(
            self.redis,
            prefix=s.redis_prefix,
            history_size=s.history_size,
            history_ttl_seconds=s.history_ttl_seconds,
            seq_ttl_seconds=s.seq_ttl_seconds,
            dedup_ttl_seconds=s.dedup_ttl_seconds,
        )
        self.subscriber = ChannelSubscriber(
            self._connect_pubsub,
            pubsub_name=self.store.pubsub_channel,
            channel_of=self.store.channel_of,
            on_message=lambda channel, seq, text: self.hub.deliver(channel, seq, text),
            on_lost=lambda: self.hub.close_all(CLOSE_TRY_AGAIN, "broker connection lost; reconnect with since"),
        )
        self.hub = Hub(self.store, self.subscriber, max_subscriptions=s.max_subscriptions, encode=encode_text_frame)
        self.connections = ConnectionService(
            self.hub,
            verifier=RealtimeTokenVerifier(s.realtime_verifying_keys),
            queue_size=s.send_queue_size,
            close_on_token_expiry=s.close_on_token_expiry,
            connect_limiter=RateLimiter(self.redis, prefix=s.redis_prefix),
            connect_bucket=Bucket("ws-connect", s.ws_connects_per_minute, s.ws_connects_burst),
        )
        self.publisher = PublishService(self.store, max_message_bytes=s.max_message_bytes)

    def _build_doors(self) -> None:
        """The doors: the WebSocket port, the internal publish port, the Kafka consumer."""
        s = self.settings
        self.asgi = RealtimeAsgi(
            connections=self.connections,
            hub=self.hub,
            publisher=self.publisher,
            publish_token=s.realtime_publish_token.get_secret_value(),
            readiness=self._readiness,
            max_incoming_bytes=s.max_incoming_bytes,
        )
        grace = s.shutdown_grace_seconds
        self.socket_server = HttpServer(
            self.asgi,
            host=s.bind_host,
            port=s.http_port,
            grace_seconds=grace,
            name="websocket",
            http="httptools",
            ws=LeanWebSocketProtocol,  # uvicorn's websockets-sansio, holding less a socket
            ws_max_size=s.max_incoming_bytes,
            ws_ping_interval=s.ws_ping_interval_seconds,
            ws_ping_timeout=s.ws_ping_timeout_seconds,
            # No permessage-deflate (every browser offers it): its zlib state costs ~38 KB a socket
            # (bench/realtime/idle_sockets.py --deflate: 63.9 -> 25.7 KB a socket) and a compression
            # per socket per message, for JSON messages of a few hundred bytes.
            ws_per_message_deflate=False,
            # Nothing here reads the client's address, so no X-Forwarded-For rewriting: uvicorn's
            # middleware for it is a coroutine frame every socket holds for its whole life.
            proxy_headers=False,
            log_level="warning",
            backlog=4096,
        )
        # The internal port: POST /v1/publish from services, never exposed outside the cluster.
        self.publish_server = HttpServer(
            self.asgi.publish_app,
            host=s.bind_host,
            port=s.publish_port,
            grace_seconds=grace,
            name="publish",
            http="httptools",
            # A publish's answer is a few dozen bytes: its head and body in one write, not two
            # (/proc/<pid>/io: 5 -> 4 write calls a publish on a 1-replica bench), and no
            # X-Forwarded-For middleware: nothing on this port reads the caller's address.
            one_write_per_answer=True,
            proxy_headers=False,
            log_level="warning",
        )
        self.translator = EventTranslator(
            upload_topic=s.upload_topic, media_topic=s.media_topic, course_topic=s.course_topic
        )
        self.dead_letters = DeadLetterStore(self.redis, prefix=s.redis_prefix)
        self.consumer = EventFanoutConsumer(
            bootstrap_servers=s.kafka_bootstrap,
            group_id=s.consumer_group,
            translator=self.translator,
            publisher=self.publisher,
            dead_letters=self.dead_letters,
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

    def parts(self) -> dict[str, Part]:
        """The long-running parts of this replica, for the Runtime."""
        parts: dict[str, Part] = {"pubsub": self.subscriber.run, "http": self.serve_http}
        if self.settings.consume_events:
            parts["events"] = self.consumer.run
        return parts

    async def serve_http(self, stop: asyncio.Event) -> None:
        """Both ports until ``stop``, then drain: sockets get 1001 "going away" so clients reconnect
        elsewhere; the publish port closes last (publishers may still flush)."""
        socket_stop, publish_stop = asyncio.Event(), asyncio.Event()
        sockets = asyncio.create_task(self.socket_server.run(socket_stop))
        publish = asyncio.create_task(self.publish_server.run(publish_stop))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({sockets, publish, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if stopper not in done:  # a server failed (port taken): stop the other, fail the part
            socket_stop.set()
            publish_stop.set()
            await asyncio.gather(sockets, publish, return_exceptions=True)
            for task in (sockets, publish):
                task.result()
            raise RuntimeError("an HTTP server stopped on its own")
        await self.connections.drain(min(5.0, self.settings.shutdown_grace_seconds / 2))
        socket_stop.set()
        await sockets
        publish_stop.set()
        await publish

    async def run(self, stop: asyncio.Event) -> None:
        """All parts until ``stop``, without a Runtime's signal handling (tests, bench)."""
        await asyncio.gather(*(part(stop) for part in self.parts().values()))

    async def wait_started(self, timeout: float = 10.0) -> None:
        """Until both ports listen and the pub/sub connection is up (tests, bench)."""
        async with asyncio.timeout(timeout):
            await self.socket_server.started.wait()
            await self.publish_server.started.wait()
            await self.subscriber.connected.wait()

    async def __aenter__(self) -> RealtimeApp:
        # Move what start-up made (imports, the wiring) out of the collector's sight: a full
        # collection then walks only the sockets' objects (process_tuning.py makes those rare).
        gc.collect()
        gc.freeze()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.redis.aclose()
        await self._pubsub_pool.aclose()
