"""Fixtures for the analytics service's tests: a fresh database per test module, migrated with our
own migrations, the real wiring (AnalyticsApp) on it with unique topics and Redis keys, and a real
grpc.aio server on a free port."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import lectern_analytics
import pytest
import pytest_asyncio
from lectern.analytics.v1 import analytics_pb2_grpc
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.migrations import migrations_dir, upgrade
from lectern_common.testing.grpc import serving

sys.path.insert(0, str(Path(__file__).parent))
from analytics_testing import KEY, analytics_settings


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def analytics_database(lectern_infra: Any, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    module = request.module.__name__.rsplit(".", 1)[-1].lower()[:30]
    name = f"t_analytics_{module}_{secrets.token_hex(4)}"
    url = await lectern_infra.create_database(name)
    await asyncio.to_thread(upgrade, url, migrations_dir(None, lectern_analytics.__file__))
    yield url
    await lectern_infra.drop_database(name)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(analytics_database: str, lectern_infra: Any) -> AsyncIterator[AnalyticsApp]:
    async with AnalyticsApp(analytics_settings(analytics_database, lectern_infra)) as analytics_app:
        yield analytics_app


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def grpc_channel(app: AnalyticsApp) -> AsyncIterator[grpc.aio.Channel]:
    """The real server (interceptors, health, auth) on a free port, and a channel to it."""
    async with serving(app.grpc) as channel:
        yield channel


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> analytics_pb2_grpc.AnalyticsServiceStub:
    return analytics_pb2_grpc.AnalyticsServiceStub(grpc_channel)


@pytest.fixture
def auth() -> Callable[[Identity], tuple[tuple[str, str], ...]]:
    """The call metadata carrying an internal token for ``identity``."""
    issuer = InternalTokenIssuer(KEY)

    def metadata(identity: Identity) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {issuer.issue(identity)}"),)

    return metadata
