"""Fixtures for media's tests: a fresh database per test module migrated with media's own
migrations, a bucket, the real wiring (MediaApp) with its real gRPC server on a free port, and a
course stand-in (see course_stand_in.py) answering ResolveResources over a real channel."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from lectern.media.v1 import media_pb2_grpc
from lectern_common.migrations import upgrade
from lectern_common.testing.grpc import serving
from lectern_media.bootstrap import MIGRATIONS_DIR, MediaApp
from lectern_media.settings import MediaSettings

sys.path.insert(0, str(Path(__file__).parent))
from media_course_stand_in import CourseStandIn, start_course_stand_in
from media_testing import BUCKET, KEY


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def media_database(lectern_infra: Any, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    module = request.module.__name__.rsplit(".", 1)[-1].lower()[:30]
    name = f"t_media_{module}_{secrets.token_hex(4)}"
    url = await lectern_infra.create_database(name)
    await asyncio.to_thread(upgrade, url, MIGRATIONS_DIR)
    yield url
    await lectern_infra.drop_database(name)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def course() -> AsyncIterator[tuple[CourseStandIn, str]]:
    servicer, server, stop, task = await start_course_stand_in(KEY.verifying_keys())
    yield servicer, f"127.0.0.1:{server.bound_port}"
    stop.set()
    await task


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(media_database: str, lectern_infra: Any, course: tuple[CourseStandIn, str]) -> AsyncIterator[MediaApp]:
    await lectern_infra.ensure_bucket(BUCKET)
    urls = lectern_infra.urls
    suffix = secrets.token_hex(4)
    settings = MediaSettings(
        database_url=media_database,
        database_pool_size=5,
        grpc_port=0,
        kafka_bootstrap=urls.kafka_bootstrap,
        s3_endpoint=urls.s3_endpoint,
        s3_access_key=urls.s3_access_key,
        s3_secret_key=urls.s3_secret_key,
        s3_bucket=BUCKET,
        internal_token_private_key=KEY.private_pem(),
        internal_token_public_keys=KEY.public_pem(),
        course_grpc_target=course[1],
        media_topic=f"test.media.{suffix}",
        upload_topic=f"test.upload.{suffix}",
        course_topic=f"test.course.{suffix}",
        consumer_group=f"test-media-{suffix}",
        shutdown_grace_seconds=1,
    )
    async with MediaApp(settings) as media_app:
        yield media_app


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def grpc_channel(app: MediaApp) -> AsyncIterator[grpc.aio.Channel]:
    """The real server (interceptors, health, auth) on a free port, and a channel to it."""
    async with serving(app.grpc_server) as channel:
        yield channel


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> media_pb2_grpc.MediaServiceStub:
    return media_pb2_grpc.MediaServiceStub(grpc_channel)
