"""What upload's tests share: the running service (``Running``), its settings on the session's
real servers, a realtime stand-in, files to upload, and the stock-client and control-API calls
several test modules make. The fixture itself is in conftest.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from lectern_common.devstack.ports import free_port
from lectern_common.http_server import HttpServer
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.migrations import upgrade
from lectern_common.token_keys import SigningKey
from lectern_upload.bootstrap import UploadApp
from lectern_upload.settings import MIB, UploadSettings
from lectern_upload.uploads.schemas import NewUpload
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tusclient import client as tus_client

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


TUS = {"Tus-Resumable": "1.0.0"}
STREAM = {"Content-Type": "application/offset+octet-stream"}


async def precreate(
    running: Running, size: int, *, owner: str = "u-tus", course_id: str | None = "c1", mime: str = "video/mp4"
) -> Any:
    return await running.app.service.create(
        owner, NewUpload(file_name="lecture.mp4", size_bytes=size, mime_type=mime, course_id=course_id)
    )


def tus_upload(url: str, token: str, path: Path, chunk_size: int, **kwargs: Any) -> int:
    stop_at = kwargs.pop("stop_at", None)
    client = tus_client.TusClient(url.rsplit("/", 1)[0] + "/", headers={"Authorization": f"Bearer {token}"})
    uploader = client.uploader(str(path), url=url, chunk_size=chunk_size, **kwargs)
    uploader.upload(stop_at=stop_at)
    return uploader.offset


async def head(running: Running, url: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.head(url, headers={**TUS, "Authorization": f"Bearer {token}"})


async def events_for(running: Running, upload_id: str) -> list[str]:
    rows = await running.sql("SELECT event_type FROM outbox_events WHERE key = :k ORDER BY id", k=upload_id)
    return [r[0] for r in rows]


def token_for(running: Running, user: str, service: bool = False) -> str:
    issuer = InternalTokenIssuer(INTERNAL_KEY)
    return issuer.issue(Identity.service("gateway") if service else Identity(user_id=user))


def meta(**values: str) -> str:
    """An Upload-Metadata header of these keys and values."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())
