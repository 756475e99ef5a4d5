"""Async SQLAlchemy 2 plumbing: engines, the unit of work, naming conventions.

Only the edge commits (STYLE rule 3): a request, RPC or message runs in one
``async with uow() as session``; service code may flush, never commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from lectern_common.telemetry import instrument_engine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A MetaData with stable constraint names, so migrations name what they drop."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(
    database_url: str, *, pool_size: int = 10, max_overflow: int | None = None, echo: bool = False
) -> AsyncEngine:
    """An asyncpg engine with timeouts, so no query can hang a request forever.

    A connection the server closed (restart, ``pg_terminate_backend``, idle timeout) is replaced
    at checkout: asyncpg notices the closed socket by itself, so asking it costs nothing, where
    ``pool_pre_ping`` would pay three round trips (BEGIN, a query, ROLLBACK) on every checkout.

    ``max_overflow`` connections (default: ``pool_size`` more) are opened when the pool is empty
    and closed again on return; under steady load that is a new connection (a PostgreSQL fork,
    type introspection, every statement prepared again) every few requests. A service that is
    busy all the time passes 0 and a ``pool_size`` big enough for its peak.
    """
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_timeout=10,
        echo=echo,
        connect_args={"timeout": 10, "command_timeout": 60},
    )
    event.listen(engine.sync_engine, "checkout", _replace_closed_connection)
    instrument_engine(engine)
    return engine


def _replace_closed_connection(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    # DisconnectionError makes the pool discard this connection and check out another (a fresh one
    # if need be), so the caller never sees the dead one.
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


class UnitOfWork:
    """Opens a session, commits it if the block succeeds and rolls it back if it raises."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    @asynccontextmanager
    async def read_only(self, *, snapshot: bool = False) -> AsyncIterator[AsyncSession]:
        """A session that never commits: for reads, so a read can't write by accident.

        ``snapshot=True`` runs every statement of the block on one snapshot (REPEATABLE READ), for
        reads whose parts must agree (a file's usage count and its links): under the default READ
        COMMITTED each statement sees the commits made before it, so a writer committing between
        two of them makes the answer disagree with itself. A read-only snapshot never fails with
        a serialization error."""
        async with self._sessions() as session:
            try:
                if snapshot:
                    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                yield session
            finally:
                await session.rollback()
