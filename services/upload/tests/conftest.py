"""Real servers for the upload tests: a fresh migrated database per module, the session's S3
bucket, the service running in-process (same bootstrap as production) on free ports."""

from __future__ import annotations

import asyncio
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lectern_common.devstack.ports import free_port
from lectern_common.runtime import Runtime
from lectern_upload.bootstrap import UploadApp

sys.path.insert(0, str(Path(__file__).parent))
from upload_testing import BUCKET, Realtime, Running, fresh_database, settings_for


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
