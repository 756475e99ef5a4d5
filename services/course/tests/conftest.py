"""Fixtures for the course service's tests: a fresh database per test module, migrated with our
own migrations, the real wiring (CourseApp) on it, and a real grpc.aio server on a free port."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from lectern.course.v1 import course_pb2_grpc
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.migrations import upgrade
from lectern_common.testing.grpc import serving
from lectern_common.token_keys import SigningKey
from lectern_course.bootstrap import CourseApp
from lectern_course.settings import CourseSettings

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
KEY = SigningKey.generate()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def course_database(lectern_infra, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    module = request.module.__name__.rsplit(".", 1)[-1].lower()[:30]
    name = f"t_course_{module}_{secrets.token_hex(4)}"
    url = await lectern_infra.create_database(name)
    await asyncio.to_thread(upgrade, url, MIGRATIONS_DIR)
    yield url
    await lectern_infra.drop_database(name)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(course_database: str, lectern_infra) -> AsyncIterator[CourseApp]:
    suffix = secrets.token_hex(4)
    settings = CourseSettings(
        database_url=course_database,
        database_pool_size=5,
        grpc_port=0,
        kafka_bootstrap=lectern_infra.urls.kafka_bootstrap,
        internal_token_public_keys=KEY.public_pem(),
        course_topic=f"test.course.{suffix}",
        media_topic=f"test.media.{suffix}",
        consumer_group=f"test-course-{suffix}",
        shutdown_grace_seconds=1,
    )
    async with CourseApp(settings) as course_app:
        yield course_app


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def grpc_channel(app: CourseApp) -> AsyncIterator[grpc.aio.Channel]:
    """The real server (interceptors, health, auth) on a free port, and a channel to it."""
    async with serving(app.grpc) as channel:
        yield channel


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> course_pb2_grpc.CourseServiceStub:
    return course_pb2_grpc.CourseServiceStub(grpc_channel)


@pytest.fixture
def issuer() -> InternalTokenIssuer:
    return InternalTokenIssuer(KEY)


@pytest.fixture
def new_user() -> Callable[..., Identity]:
    """Makes users no other test knows, so tests share a database without seeing each other."""

    def make(name: str = "instructor") -> Identity:
        return Identity(user_id=f"{name}-{uuid.uuid4().hex[:12]}", roles=frozenset({"instructor"}))

    return make


@pytest.fixture
def auth(issuer: InternalTokenIssuer) -> Callable[[Identity], tuple[tuple[str, str], ...]]:
    """The call metadata carrying an internal token for ``identity``."""

    def metadata(identity: Identity) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {issuer.issue(identity)}"),)

    return metadata
