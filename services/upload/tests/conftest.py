"""Real servers for the upload tests: a fresh migrated database per module, the session's S3
bucket, the service running in-process (same bootstrap as production) on free ports."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lectern_common.devstack.ports import free_port
from lectern_common.http_server import HttpServer
from lectern_common.migrations import upgrade
from lectern_common.runtime import Runtime
from lectern_common.token_keys import SigningKey
from lectern_upload.bootstrap import UploadApp
from lectern_upload.settings import MIB, UploadSettings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
BUCKET = "lectern-upload-tests"
PART = 5 * MIB


@dataclass
class Realtime:
    """A tiny real HTTP server standing in for realtime's /v1/publish."""

    port: int
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/publish"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        async def publish(request: Request) -> JSONResponse:
            self.received.append((loop.time(), await request.json()))
            self.auth.append(request.headers.get("authorization", ""))
            return JSONResponse({"ok": True})

        server = HttpServer(
            Starlette(routes=[Route("/v1/publish", publish, methods=["POST"])]),
            host="127.0.0.1",
            port=self.port,
            grace_seconds=1,
        )
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(server.run(self.stop))
        await asyncio.wait_for(server.started.wait(), 10)

    async def close(self) -> None:
        self.stop.set()
        if self.task:
            await self.task


@dataclass
class Running:
    app: UploadApp
    settings: UploadSettings
    database_url: str
    realtime: Realtime

    @property
    def tus_url(self) -> str:
        return self.settings.upload_public_url

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.settings.grpc_port}"

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        engine = create_async_engine(self.database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    async def stored_sha256(self, key: str) -> str:
        data = await self.app.store.get_object(key)
        return hashlib.sha256(data).hexdigest()


# The gateway's internal token key in these tests: upload holds only its public half.
INTERNAL_KEY = SigningKey.generate()


def settings_for(infra: Any, database_url: str, **overrides: Any) -> UploadSettings:
    http_port = overrides.pop("http_port", None) or free_port()
    values: dict[str, Any] = dict(
        database_url=database_url,
        kafka_bootstrap=infra.urls.kafka_bootstrap,
        s3_endpoint=infra.urls.s3_endpoint,
        s3_access_key=infra.urls.s3_access_key,
        s3_secret_key=infra.urls.s3_secret_key,
        s3_bucket=BUCKET,
        internal_token_public_keys=INTERNAL_KEY.public_pem(),
        http_port=http_port,
        grpc_port=free_port(),
        upload_public_url=f"http://127.0.0.1:{http_port}/files/",
        part_size_bytes=PART,
        log_json=False,
        shutdown_grace_seconds=2,
        janitor_interval_seconds=3600,
        # Tests stop and restart the realtime stand-in; let the breaker probe again at once.
        progress_breaker_open_seconds=0.05,
    )
    values.update(overrides)
    return UploadSettings(**values)


async def fresh_database(infra: Any, hint: str) -> str:
    name = f"t_upload_{hint}_{secrets.token_hex(4)}"
    url = await infra.create_database(name)
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def running(lectern_infra: Any, request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    """The upload service in-process on a fresh database, with a realtime stand-in."""
    await lectern_infra.ensure_bucket(BUCKET)
    database_url = await fresh_database(lectern_infra, request.module.__name__.rsplit(".", 1)[-1][:20])
    realtime = Realtime(port=free_port())
    await realtime.start()
    settings = settings_for(
        lectern_infra,
        database_url,
        realtime_publish_url=realtime.url,
        realtime_publish_token="test-publish-token",
        **getattr(request.module, "SETTINGS_OVERRIDES", {}),
    )
    async with UploadApp(settings) as app:
        runtime = Runtime(grace_seconds=2)
        runtime.add("http", app.http_server.run)
        runtime.add("grpc", app.grpc_server.run)
        task = asyncio.create_task(runtime.run(install_signal_handlers=False))
        await asyncio.wait_for(app.http_server.started.wait(), 10)
        await asyncio.wait_for(app.grpc_server.started.wait(), 10)
        try:
            yield Running(app, settings, database_url, realtime)
        finally:
            runtime.stop.set()
            await task
            await realtime.close()
    try:
        await lectern_infra.drop_database(database_url.rsplit("/", 1)[-1])
    except Exception as exc:  # cleanup only; a leftover test database harms nobody
        warnings.warn(f"could not drop test database: {exc!r}", stacklevel=1)


def random_file(tmp_path: Path, size: int, name: str = "video.mp4") -> tuple[Path, str]:
    path = tmp_path / name
    digest = hashlib.sha256()
    with path.open("wb") as f:
        remaining = size
        block = os.urandom(MIB)
        counter = 0
        while remaining:
            # Vary each MiB cheaply so parts differ (a mis-ordered part changes the checksum).
            chunk = counter.to_bytes(8, "big") + block[8:]
            chunk = chunk[: min(MIB, remaining)]
            f.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
            counter += 1
    return path, digest.hexdigest()
