from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from lectern_common.db import create_engine
from lectern_common.plumbing_tables import PLUMBING_METADATA
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_database_url(lectern_database_url: Callable[..., Awaitable[str]]) -> str:
    """An empty database of this test's own on the session's PostgreSQL."""
    return await lectern_database_url()


@pytest.fixture
async def engine(fresh_database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database holding the plumbing tables (outbox, idempotency keys,
    processed events) and the test module's own ``TEST_METADATA`` tables, when it has any."""
    engine = create_engine(fresh_database_url, pool_size=4)
    async with engine.begin() as conn:
        await conn.run_sync(PLUMBING_METADATA.create_all)
        own_tables = getattr(request.module, "TEST_METADATA", None)
        if own_tables is not None:
            await conn.run_sync(own_tables.create_all)
    yield engine
    await engine.dispose()
