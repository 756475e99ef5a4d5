"""A service's real gRPC server in a test: started on a free port, with a channel to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from lectern_common.grpc_server import GrpcServer


@asynccontextmanager
async def serving(server: GrpcServer, *, timeout: float = 10.0) -> AsyncIterator[grpc.aio.Channel]:
    """Run ``server`` (interceptors, health, auth: everything production has) until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    try:
        await asyncio.wait_for(server.started.wait(), timeout=timeout)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}")
        try:
            yield channel
        finally:
            await channel.close()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=timeout)
