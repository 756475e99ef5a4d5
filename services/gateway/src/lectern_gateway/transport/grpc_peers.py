"""gRPC clients of the services: one channel each, a deadline on every call, safe retries only.

Errors come back as the peer's DomainError (lectern_common.grpc_client.call decodes the
structured detail); a peer that is down or past its deadline is UNAVAILABLE.

Tracing: each call is a client span named after its RPC whose context goes to the service in the
call's metadata (``traceparent``), as OpenTelemetry's gRPC client interceptor did; without that
interceptor, which runs every call through grpc.aio's interceptor machinery (an extra task and
callbacks per call).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lectern.analytics.v1 import analytics_pb2_grpc
from lectern.course.v1 import course_pb2_grpc
from lectern.media.v1 import media_pb2_grpc
from lectern.upload.v1 import upload_pb2_grpc
from lectern_common.grpc_client import call, open_channel
from opentelemetry import propagate, trace

from lectern_gateway.actions.registry import ActionContext
from lectern_gateway.peers import AnalyticsPeer, CoursePeer, MediaPeer, UploadPeer
from lectern_gateway.settings import GatewaySettings

R = TypeVar("R")


class PeerChannel:
    """One service's channel and how every call on it is made (the ``PeerCalls`` of peers.py)."""

    def __init__(
        self,
        name: str,
        target: str,
        *,
        timeout_seconds: float,
        read_attempts: int = 3,
        tracing: bool = True,
    ) -> None:
        self.name = name
        self.target = target
        self.channel = open_channel(target, tracing=False)
        self._timeout = timeout_seconds
        self._attempts = max(1, read_attempts)
        self._tracer = trace.get_tracer("lectern_gateway.peers") if tracing else None

    # read and write hand back the call's coroutine instead of awaiting it: one coroutine per call.
    def read(self, rpc: Callable[[Any], Awaitable[R]], request: Any, ctx: ActionContext) -> Awaitable[R]:
        return self._call(rpc, request, ctx, retry=True)

    def write(
        self, rpc: Callable[[Any], Awaitable[R]], request: Any, ctx: ActionContext, *, retry_safe: bool
    ) -> Awaitable[R]:
        return self._call(rpc, request, ctx, retry=retry_safe)

    async def _call(self, rpc: Callable[[Any], Awaitable[R]], request: Any, ctx: ActionContext, *, retry: bool) -> R:
        if self._tracer is None:
            return await self._timed(rpc, request, ctx, retry=retry)
        name = _rpc_name(rpc)
        with self._tracer.start_as_current_span(
            name, kind=trace.SpanKind.CLIENT, attributes={"rpc.system": "grpc", "rpc.method": name}
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            return await self._timed(_with_metadata(rpc, tuple(carrier.items())), request, ctx, retry=retry)

    async def _timed(self, rpc: Callable[..., Awaitable[R]], request: Any, ctx: ActionContext, *, retry: bool) -> R:
        started = time.perf_counter()
        try:
            return await call(
                rpc,
                request,
                token=ctx.internal_token,
                timeout=self._timeout,
                retry_unavailable=retry,
                attempts=self._attempts if retry else 1,
            )
        finally:
            ctx.record_peer_time(started)

    def connectivity(self) -> str:
        return self.channel.get_state(try_to_connect=False).name

    async def close(self) -> None:
        await self.channel.close(grace=None)


def _rpc_name(rpc: Any) -> str:
    """``/package.Service/Method``: the path a grpc.aio multicallable was made for."""
    method = getattr(rpc, "_method", None)
    return method.decode() if isinstance(method, bytes) else str(method or "grpc")


def _with_metadata(rpc: Callable[..., Awaitable[R]], extra: tuple[tuple[str, str], ...]) -> Callable[..., Awaitable[R]]:
    """``rpc`` with ``extra`` metadata after what each call passes (the identity token)."""

    def traced(request: Any, *, metadata: tuple[tuple[str, str], ...], timeout: float) -> Awaitable[R]:
        return rpc(request, metadata=(*metadata, *extra), timeout=timeout)

    return traced


@dataclass(frozen=True)
class Peers:
    """The four services the gateway calls, typed, and their channels (readiness, closing)."""

    course: CoursePeer
    media: MediaPeer
    upload: UploadPeer
    analytics: AnalyticsPeer
    channels: dict[str, PeerChannel]

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self.channels.values()), return_exceptions=True)


def open_peers(settings: GatewaySettings, *, tracing: bool = True) -> Peers:
    """A channel to each service and its typed peer over the generated stub (built once, here)."""

    def channel(name: str, target: str) -> PeerChannel:
        return PeerChannel(
            name,
            target,
            timeout_seconds=settings.grpc_timeout_seconds,
            read_attempts=settings.grpc_read_attempts,
            tracing=tracing,
        )

    course = channel("course", settings.course_grpc_target)
    media = channel("media", settings.media_grpc_target)
    upload = channel("upload", settings.upload_grpc_target)
    analytics = channel("analytics", settings.analytics_grpc_target)
    return Peers(
        course=CoursePeer(course, course_pb2_grpc.CourseServiceStub(course.channel)),
        media=MediaPeer(media, media_pb2_grpc.MediaServiceStub(media.channel)),
        upload=UploadPeer(upload, upload_pb2_grpc.UploadServiceStub(upload.channel)),
        analytics=AnalyticsPeer(analytics, analytics_pb2_grpc.AnalyticsServiceStub(analytics.channel)),
        channels={peer.name: peer for peer in (course, media, upload, analytics)},
    )
