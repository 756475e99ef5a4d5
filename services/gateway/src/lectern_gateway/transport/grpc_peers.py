"""gRPC clients of the services: one channel each, a deadline on every call, safe retries only.

Errors come back as the peer's DomainError (lectern_common.grpc_client.call decodes the
structured detail); a peer that is down or past its deadline is UNAVAILABLE. The tracing
interceptor from ``open_channel`` carries the action's trace into the service.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from lectern_common.grpc_client import call, open_channel

from lectern_gateway.actions.registry import ActionContext


class GrpcPeer:
    def __init__(
        self,
        name: str,
        target: str,
        stub_class: type,
        *,
        timeout_seconds: float,
        read_attempts: int = 3,
        tracing: bool = True,
    ) -> None:
        self.name = name
        self.target = target
        self._channel = open_channel(target, tracing=tracing)
        self._stub = stub_class(self._channel)
        self._timeout = timeout_seconds
        self._attempts = max(1, read_attempts)

    async def read(self, method: str, request: Any, ctx: ActionContext) -> Any:
        return await self._call(method, request, ctx, retry=True)

    async def write(self, method: str, request: Any, ctx: ActionContext, *, retry_safe: bool) -> Any:
        return await self._call(method, request, ctx, retry=retry_safe)

    async def _call(self, method: str, request: Any, ctx: ActionContext, *, retry: bool) -> Any:
        started = time.perf_counter()
        try:
            return await call(
                getattr(self._stub, method),
                request,
                token=ctx.internal_token,
                timeout=self._timeout,
                retry_unavailable=retry,
                attempts=self._attempts if retry else 1,
            )
        finally:
            ctx.record_peer_time(started)

    def connectivity(self) -> str:
        return self._channel.get_state(try_to_connect=False).name

    async def close(self) -> None:
        await self._channel.close(grace=None)


def channel_state_name(state: grpc.ChannelConnectivity) -> str:
    return state.name
