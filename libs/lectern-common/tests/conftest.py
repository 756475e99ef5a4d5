from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest_asyncio


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_database_url(lectern_database_url: Callable[..., Awaitable[str]]) -> str:
    """An empty database of this test's own on the session's PostgreSQL."""
    return await lectern_database_url()
