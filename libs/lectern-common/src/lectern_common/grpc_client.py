"""Calling another service over gRPC: channels, the identity token, deadlines, safe retries, and
errors turned back into DomainErrors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from lectern_common.errors import DomainError, ErrorKind, decode_grpc_error

R = TypeVar("R")

_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.enable_retries", 0),  # we retry ourselves, only where it is safe
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]


def open_channel(target: str, *, tracing: bool = True) -> grpc.aio.Channel:
    interceptors: list[Any] = []
    if tracing:
        from opentelemetry.instrumentation.grpc import aio_client_interceptors

        interceptors = list(aio_client_interceptors())
    return grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS, interceptors=interceptors)


def auth_metadata(internal_token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {internal_token}"),)


async def call(
    method: Callable[..., Awaitable[R]],
    request: Any,
    *,
    token: str,
    timeout: float = 5.0,
    retry_unavailable: bool = False,
    attempts: int = 3,
) -> R:
    """Call ``method`` within ``timeout``; a peer's DomainError comes back as the same DomainError.

    ``retry_unavailable`` is for reads and idempotency-keyed writes only: it retries UNAVAILABLE
    (the peer restarting) a few times with a short backoff. ``timeout`` bounds the whole call,
    retries included: each attempt gets what is left of it, and no retry starts that could not
    finish in time (a caller's deadline is its own, not one per attempt).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.1
    for attempt in range(1, attempts + 1):
        try:
            return await method(request, metadata=auth_metadata(token), timeout=max(deadline - loop.time(), 0.0))
        except grpc.aio.AioRpcError as exc:
            error = decode_grpc_error(exc.code(), exc.details(), exc.trailing_metadata())
            retryable = retry_unavailable and attempt < attempts and exc.code() == grpc.StatusCode.UNAVAILABLE
            if retryable and deadline - loop.time() > delay:
                await asyncio.sleep(delay)
                delay *= 3
                continue
            if error.kind is ErrorKind.UNAVAILABLE and error.code.startswith("grpc."):
                # A bare transport failure (peer down, deadline): say so plainly. A peer's own
                # UNAVAILABLE DomainError keeps its code and details.
                raise DomainError(
                    "peer.unavailable", "a service is unavailable, try again", ErrorKind.UNAVAILABLE
                ) from exc
            raise error from exc
    raise AssertionError("unreachable")
