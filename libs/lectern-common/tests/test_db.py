"""The engine every service uses: a connection the server closed never reaches a caller."""

from __future__ import annotations

import asyncio

import asyncpg
from lectern_common.db import create_engine
from sqlalchemy import text


async def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout(fresh_database_url: str) -> None:
    engine = create_engine(fresh_database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            killed_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        admin = await asyncpg.connect(engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", killed_pid)
            # The backend is gone once it no longer shows in pg_stat_activity.
            for _ in range(100):
                if not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", killed_pid):
                    break
                await admin.execute("SELECT pg_sleep(0.02)")
        finally:
            await admin.close()
        await asyncio.sleep(0.05)  # let the loop read the server's goodbye on the pooled socket

        async with engine.connect() as conn:
            new_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert new_pid != killed_pid
    finally:
        await engine.dispose()
