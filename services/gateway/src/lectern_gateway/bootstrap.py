"""The one wiring point: Redis, the JWKS client, gRPC peers, the actions, the FastAPI app.

``async with Gateway.open(settings) as gateway`` builds everything from settings and closes it
all on the way out; ``gateway.serve(stop)`` runs the HTTP server until ``stop`` is set. Tests
use the same object in-process, so they test the real wiring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from lectern_common.identity import InternalTokenIssuer
from lectern_common.rate_limits import Bucket, RateLimiter
from lectern_common.realtime_tokens import RealtimeTokenIssuer
from redis.asyncio import Redis

from lectern_gateway.actions.dispatch import ActionDispatcher, RateLimits
from lectern_gateway.actions.idempotency import IdempotencyCache
from lectern_gateway.actions.registry import ActionRegistry
from lectern_gateway.analytics.service import AnalyticsActions
from lectern_gateway.auth.dev import DEV_ISSUER, DevTokenSigner
from lectern_gateway.auth.keys import JwksKeySource, StaticKeySource
from lectern_gateway.auth.tokens import TrustedIssuer, UserTokenVerifier
from lectern_gateway.courses.service import CourseActions
from lectern_gateway.media.service import MediaActions
from lectern_gateway.realtime.service import RealtimeActions
from lectern_gateway.settings import GatewaySettings
from lectern_gateway.transport.grpc_peers import Peers, open_peers
from lectern_gateway.transport.http import create_app
from lectern_gateway.uploads.service import UploadActions

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the Runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Gateway:
    settings: GatewaySettings
    app: FastAPI
    dispatcher: ActionDispatcher
    peers: Peers
    redis: Redis
    dev_signer: DevTokenSigner | None
    bound_port: int | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: GatewaySettings, *, tracing: bool = True) -> AsyncIterator[Gateway]:
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
            health_check_interval=30,
        )
        http = httpx.AsyncClient(timeout=settings.jwks_fetch_timeout_seconds)
        peers = open_peers(settings, tracing=tracing)
        try:
            issuers: list[TrustedIssuer] = []
            if settings.oidc_issuer and settings.oidc_jwks_url:
                keys = JwksKeySource(
                    settings.oidc_jwks_url,
                    http,
                    cache_seconds=settings.jwks_cache_seconds,
                    min_refetch_seconds=settings.jwks_min_refetch_seconds,
                    timeout_seconds=settings.jwks_fetch_timeout_seconds,
                )
                issuers.append(
                    TrustedIssuer(
                        settings.oidc_issuer,
                        settings.oidc_audience,
                        keys,
                        tuple(settings.oidc_algorithms),
                        settings.oidc_roles_claim,
                    )
                )
            dev_signer: DevTokenSigner | None = None
            if settings.dev_login:
                dev_signer = DevTokenSigner(
                    settings.internal_signing_key.private_key_seed(),
                    audience=settings.oidc_audience,
                    ttl_seconds=settings.dev_token_ttl_seconds,
                )
                issuers.append(
                    TrustedIssuer(DEV_ISSUER, settings.oidc_audience, StaticKeySource(dev_signer.jwks()), ("ES256",))
                )
            if not issuers:
                log.warning("no token issuer configured (set LECTERN_GATEWAY_OIDC_*): every action is UNAUTHENTICATED")

            registry = ActionRegistry(
                [
                    *CourseActions(peers.course, peers.media).actions(),
                    *MediaActions(peers.media).actions(),
                    *UploadActions(peers.upload, peers.course).actions(),
                    *RealtimeActions(
                        peers.course,
                        RealtimeTokenIssuer(settings.realtime_signing_key, settings.realtime_token_ttl_seconds),
                        public_url=settings.realtime_public_url,
                        max_courses=settings.realtime_token_max_courses,
                    ).actions(),
                    *AnalyticsActions(peers.analytics).actions(),
                ]
            )
            dispatcher = ActionDispatcher(
                registry,
                authenticator=UserTokenVerifier(issuers),
                token_issuer=InternalTokenIssuer(settings.internal_signing_key, settings.internal_token_ttl_seconds),
                idempotency=IdempotencyCache(
                    redis,
                    prefix=settings.redis_prefix,
                    ttl_seconds=settings.idempotency_ttl_seconds,
                    lock_seconds=settings.idempotency_lock_seconds,
                ),
                rate_limiter=RateLimiter(redis, prefix=settings.redis_prefix) if settings.rate_limit_enabled else None,
                rate_limits=RateLimits(
                    every_action=Bucket("all", settings.rate_limit_per_minute, settings.rate_limit_burst),
                    mutations=Bucket(
                        "mutations", settings.rate_limit_mutations_per_minute, settings.rate_limit_mutations_burst
                    ),
                    per_client=Bucket(
                        "client", settings.rate_limit_per_client_per_minute, settings.rate_limit_per_client_burst
                    ),
                    dev_token=Bucket("dev-token", settings.dev_token_per_minute, settings.dev_token_burst),
                ),
            )

            async def readiness() -> dict[str, Any]:
                checks: dict[str, str] = {}
                status = "ok"
                try:
                    await asyncio.wait_for(redis.ping(), timeout=settings.redis_timeout_seconds)
                    checks["redis"] = "ok"
                except Exception as exc:  # any failure means not ready; say which (details: the log)
                    log.warning("readiness: redis ping failed: %r", exc)
                    checks["redis"] = "failed"
                    status = "failed"
                for name, peer in peers.channels.items():
                    checks[f"grpc:{name}"] = peer.connectivity().lower()
                return {"status": status, "checks": checks}

            app = create_app(
                dispatcher,
                readiness=readiness,
                max_body_bytes=settings.max_body_bytes,
                dev_signer=dev_signer,
                docs=settings.is_dev,
                allowed_origins=settings.allowed_origins,
                forwarded_for_hops=settings.forwarded_for_hops,
                instrument=tracing,
            )
            yield cls(settings, app, dispatcher, peers, redis, dev_signer)
        finally:
            await peers.close()
            await http.aclose()
            await redis.aclose()

    async def serve(self, stop: asyncio.Event, *, ready: asyncio.Event | None = None) -> None:
        """Run the HTTP server until ``stop``; in-flight requests get the grace period to finish."""
        config = uvicorn.Config(
            self.app,
            host=self.settings.bind_host,
            port=self.settings.http_port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(self.settings.shutdown_grace_seconds),
            # Longer than a load balancer's idle timeout (60 s on most) and than clients' own keep-alive,
            # so the server is never the side that closes a connection a client is about to reuse.
            timeout_keep_alive=75,
        )
        server = _EmbeddedServer(config)
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                if serving.done():
                    await serving  # raises the bind error
                    raise RuntimeError("HTTP server stopped before it started")
                await asyncio.sleep(0.01)
            self.bound_port = server.servers[0].sockets[0].getsockname()[1]
            log.info("gateway listening on port %s", self.bound_port)
            if ready is not None:
                ready.set()
            stop_wait = asyncio.create_task(stop.wait())
            await asyncio.wait({serving, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
        finally:
            server.should_exit = True
            await serving
