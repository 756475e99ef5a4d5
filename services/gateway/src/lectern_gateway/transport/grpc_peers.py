"""gRPC clients of the services: one channel each, a deadline on every call, safe retries only.

Errors come back as the peer's DomainError (lectern_common.grpc_client.call decodes the
structured detail); a peer that is down or past its deadline is UNAVAILABLE. The tracing
interceptor from ``open_channel`` carries the action's trace into the service.
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
        self.channel = open_channel(target, tracing=tracing)
        self._timeout = timeout_seconds
        self._attempts = max(1, read_attempts)

    # read and write hand back the call's coroutine instead of awaiting it: one coroutine per call.
    def read(self, rpc: Callable[[Any], Awaitable[R]], request: Any, ctx: ActionContext) -> Awaitable[R]:
        return self._call(rpc, request, ctx, retry=True)

    def write(
        self, rpc: Callable[[Any], Awaitable[R]], request: Any, ctx: ActionContext, *, retry_safe: bool
    ) -> Awaitable[R]:
        return self._call(rpc, request, ctx, retry=retry_safe)

    async def _call(self, rpc: Callable[[Any], Awaitable[R]], request: Any, ctx: ActionContext, *, retry: bool) -> R:
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
