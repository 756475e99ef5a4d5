"""The service process killed mid-upload and started again: the upload resumes from HEAD's offset
and the stored object's sha256 equals the source's (the hash state survived the restart)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from lectern_common.devstack.ports import free_port
from lectern_common.grpc_client import call, open_channel
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.objectstore import S3ObjectStore
from lectern_common.token_keys import SigningKey
from lectern_upload.settings import MIB
from upload_testing import BUCKET, PART, fresh_database, random_file, tus_upload

KEY = SigningKey.generate()


class ServiceProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, http_port: int) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once
                [sys.executable, "-m", "lectern_upload", "serve"], env=self.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 120  # imports alone take seconds on a busy 2-core CI box
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await http.get(f"http://127.0.0.1:{http_port}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("service did not become ready:\n" + self.log.read_text()[-3000:])

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def service_env(infra: Any, database_url: str, *, http_port: int, grpc_port: int) -> dict[str, str]:
    """The environment a real ``python -m lectern_upload serve`` reads its settings from."""
    urls = infra.urls
    return {
        **os.environ,
        "LECTERN_UPLOAD_DATABASE_URL": database_url,
        "LECTERN_UPLOAD_KAFKA_BOOTSTRAP": urls.kafka_bootstrap,
        "LECTERN_UPLOAD_S3_ENDPOINT": urls.s3_endpoint,
        "LECTERN_UPLOAD_S3_ACCESS_KEY": urls.s3_access_key,
        "LECTERN_UPLOAD_S3_SECRET_KEY": urls.s3_secret_key,
        "LECTERN_UPLOAD_S3_BUCKET": BUCKET,
        "LECTERN_UPLOAD_HTTP_PORT": str(http_port),
        "LECTERN_UPLOAD_GRPC_PORT": str(grpc_port),
        "LECTERN_UPLOAD_UPLOAD_PUBLIC_URL": f"http://127.0.0.1:{http_port}/files/",
        "LECTERN_UPLOAD_PART_SIZE_BYTES": str(PART),
        "LECTERN_UPLOAD_INTERNAL_TOKEN_PUBLIC_KEYS": KEY.public_pem(),
        "LECTERN_UPLOAD_REALTIME_PUBLISH_URL": f"http://127.0.0.1:{free_port()}/v1/publish",
        "LECTERN_UPLOAD_SHUTDOWN_GRACE_SECONDS": "2",
    }


async def patch_until_killed(service: ServiceProcess, created: Any, data: bytes) -> None:
    """One PATCH of ``data`` whose service is SIGKILLed once 23 MiB were sent."""
    sent = 0
    killed = asyncio.Event()

    async def body():  # type: ignore[no-untyped-def]
        nonlocal sent
        for start in range(0, len(data), MIB):
            if sent >= 23 * MIB:
                await asyncio.sleep(1.0)  # let the service store the parts it has
                service.kill()  # SIGKILL: no tail flush, no cleanup
                killed.set()
                await asyncio.sleep(0.5)
            yield data[start : start + MIB]
            sent += MIB

    with pytest.raises(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=30) as http:
            await http.patch(
                created.upload_url,
                content=body(),
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Authorization": f"Bearer {created.upload_token}",
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": "0",
                },
            )
    assert killed.is_set()


async def stored_sha256(infra: Any, operation_id: str) -> str:
    urls = infra.urls
    store = S3ObjectStore(
        endpoint_url=urls.s3_endpoint, bucket=BUCKET, access_key=urls.s3_access_key, secret_key=urls.s3_secret_key
    )
    return hashlib.sha256(await store.get_object(f"uploads/{operation_id}")).hexdigest()


async def row_state(database_url: str, operation_id: str) -> tuple[str, str]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT status, checksum FROM uploads WHERE id = :i"), {"i": operation_id})
        ).one()
    await engine.dispose()
    return row.status, row.checksum


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_killed_service_resumes_upload_after_restart(lectern_infra: Any, tmp_path: Path) -> None:
    await lectern_infra.ensure_bucket(BUCKET)
    database_url = await fresh_database(lectern_infra, "restart")
    http_port, grpc_port = free_port(), free_port()
    env = service_env(lectern_infra, database_url, http_port=http_port, grpc_port=grpc_port)
    size = 60 * MIB
    path, sha = random_file(tmp_path, size)
    service = ServiceProcess(env, tmp_path / "service.log")
    await service.start(http_port)
    try:
        from lectern.upload.v1 import upload_pb2, upload_pb2_grpc

        channel = open_channel(f"127.0.0.1:{grpc_port}", tracing=False)
        token = InternalTokenIssuer(KEY).issue(Identity(user_id="u-restart"))
        created = await call(
            upload_pb2_grpc.UploadServiceStub(channel).CreateUpload,
            upload_pb2.CreateUploadRequest(file_name="long.mp4", size_bytes=size, mime_type="video/mp4"),
            token=token,
        )
        await channel.close()

        await patch_until_killed(service, created, path.read_bytes())

        await service.start(http_port)
        async with httpx.AsyncClient() as http:
            head = await http.head(
                created.upload_url,
                headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {created.upload_token}"},
            )
        offset = int(head.headers["upload-offset"])
        # Only whole parts S3 acknowledged survive a SIGKILL; nothing past what was sent.
        assert 0 < offset <= 23 * MIB and offset % PART == 0, offset

        final = await asyncio.to_thread(tus_upload, created.upload_url, created.upload_token, path, 10 * MIB)
        assert final == size
    finally:
        service.stop()

    assert await stored_sha256(lectern_infra, created.operation_id) == sha
    assert await row_state(database_url, created.operation_id) == ("processing", f"sha256:{sha}")
