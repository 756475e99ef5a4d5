"""Fixtures: a real gateway (uvicorn on a free port) in front of real grpc.aio servers.

The peers are lectern_common's GrpcServer (the same identity interceptor and error mapping every
service uses) serving scripted course, media and upload servicers, so each test says what the
service answers and checks what the gateway sent. Redis is the session's real server; each
gateway gets its own key prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from lectern.course.v1 import course_pb2_grpc
from lectern.media.v1 import media_pb2_grpc
from lectern.upload.v1 import upload_pb2_grpc
from lectern_common.devstack.ports import free_port
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.grpc_server import GrpcServer
from lectern_common.identity import Identity, InternalTokenVerifier, current_identity
from lectern_common.token_keys import SigningKey
from lectern_gateway.bootstrap import GatewayApp
from lectern_gateway.settings import GatewaySettings

INTERNAL_KEY = SigningKey.generate()
REALTIME_KEY = SigningKey.generate()


class BareStatus(Exception):
    """Raised by a scripted handler: answer this gRPC status with no structured detail."""

    def __init__(self, status: grpc.StatusCode) -> None:
        super().__init__(status.name)
        self.status = status


@dataclass
class Scripted:
    """What each RPC answers (``handlers[name](request, identity)``) and every call received."""

    handlers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    calls: list[tuple[str, Any, Identity | None]] = field(default_factory=list)

    def servicer(self, base: type) -> Any:
        scripted = self
        namespace: dict[str, Any] = {}
        for name, _ in inspect.getmembers(base, inspect.isfunction):
            if name.startswith("_"):
                continue

            async def method(self: Any, request: Any, context: Any, _name: str = name) -> Any:
                identity = current_identity.get()
                scripted.calls.append((_name, request, identity))
                handler = scripted.handlers.get(_name)
                if handler is None:
                    raise DomainError("stub.unscripted", f"{_name} is not scripted", ErrorKind.INTERNAL)
                try:
                    result = handler(request, identity)
                    if inspect.isawaitable(result):
                        result = await result
                except BareStatus as exc:
                    await context.abort(exc.status, "scripted failure")
                return result

            namespace[name] = method
        return type(f"Scripted{base.__name__}", (base,), namespace)()

    def calls_to(self, name: str) -> list[Any]:
        return [request for method, request, _ in self.calls if method == name]

    def reset(self) -> None:
        self.handlers.clear()
        self.calls.clear()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def peers() -> AsyncIterator[Scripted]:
    """One real gRPC server carrying scripted course, media and upload services."""
    scripted = Scripted()

    def register(server: Any) -> None:
        course_pb2_grpc.add_CourseServiceServicer_to_server(
            scripted.servicer(course_pb2_grpc.CourseServiceServicer), server
        )
        media_pb2_grpc.add_MediaServiceServicer_to_server(
            scripted.servicer(media_pb2_grpc.MediaServiceServicer), server
        )
        upload_pb2_grpc.add_UploadServiceServicer_to_server(
            scripted.servicer(upload_pb2_grpc.UploadServiceServicer), server
        )

    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        verifier=InternalTokenVerifier(INTERNAL_KEY.verifying_keys()),
        register=register,
        service_names=["lectern.course.v1.CourseService"],
        grace_seconds=0.5,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    await asyncio.wait_for(server.started.wait(), 10)
    scripted.port = server.bound_port  # type: ignore[attr-defined]
    try:
        yield scripted
    finally:
        stop.set()
        await task


@pytest.fixture
def scripted(peers: Scripted) -> Scripted:
    peers.reset()
    return peers


@dataclass
class RunningGateway:
    gateway: GatewayApp
    http: httpx.AsyncClient
    settings: GatewaySettings

    async def token(self, user_id: str = "user-1", **extra: Any) -> str:
        response = await self.http.post("/auth/dev/token", json={"userId": user_id, **extra})
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["token"])

    async def act(
        self, name: str, body: Any = None, *, token: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return await self.http.post(f"/actions/{name}", json=body if body is not None else {}, headers=all_headers)


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningGateway]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def make_gateway(lectern_infra: Any, peers: Scripted) -> AsyncIterator[GatewayFactory]:
    """``async with make_gateway(**settings) as gw``: a real gateway on a free port."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[RunningGateway]:
        peer_target = f"127.0.0.1:{peers.port}"  # type: ignore[attr-defined]
        values: dict[str, Any] = {
            "http_port": free_port(),
            "redis_url": lectern_infra.urls.redis_url,
            "redis_prefix": f"test:{secrets.token_hex(4)}:",
            "dev_auth": True,
            # Every test client is 127.0.0.1: the per-address buckets get their own tests.
            "rate_limit_per_client_per_minute": 100_000,
            "rate_limit_per_client_burst": 10_000,
            "dev_token_per_minute": 10_000,
            "dev_token_burst": 1_000,
            "internal_token_private_key": INTERNAL_KEY.private_pem(),
            "realtime_token_private_key": REALTIME_KEY.private_pem(),
            "course_grpc_target": peer_target,
            "media_grpc_target": peer_target,
            "upload_grpc_target": peer_target,
            "analytics_grpc_target": f"127.0.0.1:{free_port()}",  # nothing listens: analytics is down
            "grpc_timeout_seconds": 2.0,
            "shutdown_grace_seconds": 1.0,
        }
        values.update(overrides)
        settings = GatewaySettings(**values)
        async with GatewayApp(settings) as gateway:
            # Its parts, run as the service's Runtime runs them.
            stop = asyncio.Event()
            serving = [asyncio.create_task(part(stop)) for part in gateway.parts().values()]
            await asyncio.wait_for(gateway.http.started.wait(), 10)
            base = f"http://127.0.0.1:{gateway.http.bound_port}"
            http = httpx.AsyncClient(base_url=base, timeout=15)
            try:
                yield RunningGateway(gateway, http, settings)
            finally:
                # Close our keep-alive connections first, or uvicorn waits for them to go idle.
                await http.aclose()
                stop.set()
                await asyncio.gather(*serving)

    yield start


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gw(make_gateway: GatewayFactory) -> AsyncIterator[RunningGateway]:
    async with make_gateway() as running:
        yield running
