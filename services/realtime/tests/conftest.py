"""Realtime test fixtures: replicas of the real wiring on free ports, sharing the session's Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from lectern_common.devstack.ports import free_port
from lectern_common.realtime_tokens import RealtimeTokenIssuer
from lectern_common.token_keys import SigningKey
from lectern_realtime.bootstrap import RealtimeApp
from lectern_realtime.settings import RealtimeSettings

TOKEN_KEY = SigningKey.generate()
PUBLISH_TOKEN = "test-publish-token"


@dataclass
class Replica:
    realtime: RealtimeApp
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def port(self) -> int:
        return self.realtime.settings.http_port

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def publish_url(self) -> str:
        return f"http://127.0.0.1:{self.realtime.settings.publish_port}/v1/publish"

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=15)


ReplicaFactory = Callable[..., Awaitable[Replica]]


@pytest.fixture
def redis_prefix() -> str:
    return f"test-rt:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def token_key() -> SigningKey:
    """The gateway's realtime signing key in these tests; the replicas hold its public half."""
    return TOKEN_KEY


@pytest.fixture
def issuer() -> RealtimeTokenIssuer:
    return RealtimeTokenIssuer(TOKEN_KEY, ttl_seconds=600)


@pytest_asyncio.fixture(loop_scope="session")
async def start_replica(lectern_infra: Any, redis_prefix: str) -> AsyncIterator[ReplicaFactory]:
    """``await start_replica(**settings)``: one more replica on a free port, same Redis prefix."""
    stack = contextlib.AsyncExitStack()
    replicas: list[Replica] = []

    async def start(**overrides: Any) -> Replica:
        values: dict[str, Any] = {
            "redis_url": lectern_infra.urls.redis_url,
            "kafka_bootstrap": lectern_infra.urls.kafka_bootstrap,
            "http_port": free_port(),
            "publish_port": free_port(),
            "redis_prefix": redis_prefix,
            "consume_events": False,
            "realtime_token_public_keys": TOKEN_KEY.public_pem(),
            "realtime_publish_token": PUBLISH_TOKEN,
            "shutdown_grace_seconds": 4.0,
            **overrides,
        }
        realtime = await stack.enter_async_context(RealtimeApp(RealtimeSettings(**values)))
        stop = asyncio.Event()
        task = asyncio.create_task(realtime.run(stop))
        replica = Replica(realtime, stop, task)
        replicas.append(replica)
        await realtime.wait_started()
        return replica

    yield start
    for replica in replicas:
        if not replica.task.done():
            replica.stop.set()
    await asyncio.gather(*(asyncio.wait_for(r.task, 15) for r in replicas), return_exceptions=True)
    await stack.aclose()


class RealtimeClient:
    """What tests do to a replica: publish over HTTP, open real WebSockets, read frames."""

    def __init__(self, http: httpx.AsyncClient, issuer: RealtimeTokenIssuer) -> None:
        self.http = http
        self.issuer = issuer

    def token(self, user_id: str, courses: tuple[str, ...] = ()) -> str:
        return self.issuer.issue(user_id, courses).token

    async def publish(
        self, replica: Replica, channel: str, message: dict[str, Any], token: str = PUBLISH_TOKEN
    ) -> httpx.Response:
        return await self.http.post(
            replica.publish_url,
            json={"channel": channel, "message": message},
            headers={"Authorization": f"Bearer {token}"},
        )

    @staticmethod
    def progress(operation_id: str, value: float, course_id: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "upload-progress", "operationId": operation_id, "data": {"progress": value}}
        if course_id:
            message["courseId"] = course_id
        return message

    @staticmethod
    async def recv_json(ws: Any, timeout: float = 3.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(ws.recv(), timeout=timeout))

    @staticmethod
    async def assert_silent(ws: Any, wait: float = 0.3) -> None:
        """Nothing arrives on ``ws`` within ``wait`` seconds."""
        try:
            got = await asyncio.wait_for(ws.recv(), timeout=wait)
        except TimeoutError:
            return
        pytest.fail(f"unexpected frame {got}")

    @contextlib.asynccontextmanager
    async def socket(self, replica: Replica, token: str, *, expect_subscribed: bool = True) -> AsyncIterator[Any]:
        """A real WebSocket client; by default waits for the automatic ``subscribed`` to its user channel."""
        async with websockets.connect(f"{replica.ws_url}?token={token}", open_timeout=5, close_timeout=2) as ws:
            if expect_subscribed:
                first = await self.recv_json(ws)
                assert first["type"] == "subscribed" and first["channel"].startswith("user:"), first
            yield ws


@pytest_asyncio.fixture(loop_scope="session")
async def client(issuer: RealtimeTokenIssuer) -> AsyncIterator[RealtimeClient]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield RealtimeClient(http, issuer)


@pytest.fixture
def unique() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"
