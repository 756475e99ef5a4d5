"""The engine every service uses: a connection the server closed never reaches a caller."""

from __future__ import annotations

import asyncio

import asyncpg
from lectern_common.db import UnitOfWork, create_engine
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


async def test_a_snapshot_read_sees_one_state_while_a_writer_commits_between_its_statements(
    fresh_database_url: str,
) -> None:
    engine = create_engine(fresh_database_url, pool_size=2, max_overflow=0)
    uow = UnitOfWork(engine)
    try:
        async with uow() as session:
            await session.execute(text("CREATE TABLE counted (n int NOT NULL)"))
            await session.execute(text("INSERT INTO counted VALUES (1)"))

        async def commit_another_row() -> None:
            async with uow() as writer:
                await writer.execute(text("INSERT INTO counted VALUES (2)"))

        for snapshot, expected in ((True, 1), (False, 2)):
            async with uow.read_only(snapshot=snapshot) as session:
                first = (await session.execute(text("SELECT count(*) FROM counted"))).scalar_one()
                await commit_another_row()
                second = (await session.execute(text("SELECT count(*) FROM counted"))).scalar_one()
            assert second - first == expected - 1, (snapshot, first, second)
        # Both pooled connections went back at the default level.
        async with uow.read_only() as one, uow.read_only() as two:
            levels = [(await s.execute(text("SHOW transaction_isolation"))).scalar_one() for s in (one, two)]
        assert levels == ["read committed", "read committed"]
    finally:
        await engine.dispose()
