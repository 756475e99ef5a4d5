"""The one wiring point: Redis, the JWKS client, gRPC peers, the actions, the FastAPI app.

``async with GatewayApp(settings) as app`` builds everything from settings (inside the running
loop: gRPC channels bind to the loop they are made in) and closes it all on the way out;
``app.parts()`` is the HTTP server the Runtime runs. Tests use the same object in-process, so
they test the real wiring. Nothing connects until a request needs it.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

import httpx
from fastapi import FastAPI
from lectern_common.http_server import HttpServer
from lectern_common.identity import InternalTokenIssuer
from lectern_common.rate_limits import Bucket, RateLimiter
from lectern_common.realtime_tokens import RealtimeTokenIssuer
from lectern_common.runtime import Part
from redis.asyncio import Redis

from lectern_gateway.actions.dispatch import ActionDispatcher, RateLimits
from lectern_gateway.actions.idempotency import IdempotencyCache
from lectern_gateway.actions.internal_tokens import ReusedTokens
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
from lectern_gateway.transport.http import create_app, serving_app
from lectern_gateway.uploads.service import UploadActions

log = logging.getLogger(__name__)


class GatewayApp:
    """The gateway's wiring; ``parts()`` answers its one long-running part, the HTTP server."""

    def __init__(self, settings: GatewaySettings, *, tracing: bool = True) -> None:
        self.settings = settings
        self.redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
            health_check_interval=30,
        )
        self._jwks_http = httpx.AsyncClient(timeout=settings.jwks_fetch_timeout_seconds)
        self.peers = open_peers(settings, tracing=tracing)
        self.dev_signer = dev_token_signer(settings)
        self.dispatcher = ActionDispatcher(
            action_registry(settings, self.peers),
            authenticator=UserTokenVerifier(trusted_issuers(settings, self._jwks_http, self.dev_signer)),
            token_issuer=ReusedTokens(
                InternalTokenIssuer(settings.internal_signing_key, settings.internal_token_ttl_seconds).issue,
                ttl_seconds=settings.internal_token_ttl_seconds,
            ),
            idempotency=IdempotencyCache(
                self.redis,
                prefix=settings.redis_prefix,
                ttl_seconds=settings.idempotency_ttl_seconds,
                lock_seconds=settings.idempotency_lock_seconds,
            ),
            rate_limiter=RateLimiter(self.redis, prefix=settings.redis_prefix) if settings.rate_limit_enabled else None,
            rate_limits=rate_limits(settings),
        )
        self.app: FastAPI = create_app(
            self.dispatcher,
            readiness=self.readiness,
            max_body_bytes=settings.max_body_bytes,
            dev_signer=self.dev_signer,
            docs=settings.is_dev,
            forwarded_for_hops=settings.forwarded_for_hops,
            instrument=tracing,
        )
        served = serving_app(
            self.app,
            self.dispatcher,
            max_body_bytes=settings.max_body_bytes,
            allowed_origins=settings.allowed_origins,
            forwarded_for_hops=settings.forwarded_for_hops,
            traced=tracing,
        )
        self.http = HttpServer(
            served,
            host=settings.bind_host,
            port=settings.http_port,
            grace_seconds=settings.shutdown_grace_seconds,
            http="httptools",
            one_write_per_answer=True,  # an action's answer fits in one write: head and body together
            # Longer than a load balancer's idle timeout (60 s on most) and than clients' own keep-alive,
            # so the server is never the side that closes a connection a client is about to reuse.
            timeout_keep_alive=75,
        )

    def parts(self) -> dict[str, Part]:
        return {"http": self.http.run}

    async def readiness(self) -> dict[str, Any]:
        """Ready when Redis answers; each peer's channel state is reported, not required."""
        checks: dict[str, str] = {}
        status = "ok"
        try:
            await asyncio.wait_for(self.redis.ping(), timeout=self.settings.redis_timeout_seconds)
            checks["redis"] = "ok"
        except Exception as exc:  # any failure means not ready; say which (details: the log)
            log.warning("readiness: redis ping failed: %r", exc)
            checks["redis"] = "failed"
            status = "failed"
        for name, channel in self.peers.channels.items():
            checks[f"grpc:{name}"] = channel.connectivity().lower()
        return {"status": status, "checks": checks}

    async def __aenter__(self) -> GatewayApp:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.peers.close()
        await self._jwks_http.aclose()
        await self.redis.aclose()


def dev_token_signer(settings: GatewaySettings) -> DevTokenSigner | None:
    """The dev login's signer (dev only), its key derived from the stack's internal signing key."""
    if not settings.dev_login:
        return None
    return DevTokenSigner(
        settings.internal_signing_key.private_key_seed(),
        audience=settings.oidc_audience,
        ttl_seconds=settings.dev_token_ttl_seconds,
    )


def trusted_issuers(
    settings: GatewaySettings, http: httpx.AsyncClient, dev_signer: DevTokenSigner | None
) -> list[TrustedIssuer]:
    """Who may sign users' tokens: the OIDC issuer (keys from its JWKS) and, in dev, the dev login."""
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
    if dev_signer is not None:
        issuers.append(
            TrustedIssuer(DEV_ISSUER, settings.oidc_audience, StaticKeySource(dev_signer.jwks()), ("ES256",))
        )
    if not issuers:
        log.warning("no token issuer configured (set LECTERN_GATEWAY_OIDC_*): every action is UNAUTHENTICATED")
    return issuers


def action_registry(settings: GatewaySettings, peers: Peers) -> ActionRegistry:
    """Every action, in the order the OpenAPI document lists them."""
    realtime = RealtimeActions(
        peers.course,
        RealtimeTokenIssuer(settings.realtime_signing_key, settings.realtime_token_ttl_seconds),
        public_url=settings.realtime_public_url,
        max_courses=settings.realtime_token_max_courses,
    )
    return ActionRegistry(
        [
            *CourseActions(peers.course, peers.media).actions(),
            *MediaActions(peers.media).actions(),
            *UploadActions(peers.upload, peers.course).actions(),
            *realtime.actions(),
            *AnalyticsActions(peers.analytics).actions(),
        ]
    )


def rate_limits(settings: GatewaySettings) -> RateLimits:
    return RateLimits(
        every_action=Bucket("all", settings.rate_limit_per_minute, settings.rate_limit_burst),
        mutations=Bucket("mutations", settings.rate_limit_mutations_per_minute, settings.rate_limit_mutations_burst),
        per_client=Bucket("client", settings.rate_limit_per_client_per_minute, settings.rate_limit_per_client_burst),
        dev_token=Bucket("dev-token", settings.dev_token_per_minute, settings.dev_token_burst),
    )
