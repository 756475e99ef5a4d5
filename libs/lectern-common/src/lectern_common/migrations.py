"""Alembic wiring: one migration history per service, one database per service.

A service's ``migrations/env.py`` is two lines::

    from lectern_common.migrations import run_alembic_env
    from lectern_course.models import Base
    run_alembic_env(Base.metadata)

and ``python -m lectern_course migrate`` calls :func:`upgrade`. Tests call
``await asyncio.to_thread(upgrade, url, dir)`` on a fresh database (Alembic's commands are sync).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from lectern_common.plumbing_tables import PLUMBING_METADATA

FILE_TEMPLATE = "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s"


def migrations_dir(configured: str | None, package_file: str) -> Path:
    """The service's Alembic folder: ``settings.migrations_dir`` when set (container images copy
    it to /app/migrations), else ``services/<svc>/migrations`` beside the package's source."""
    return Path(configured) if configured else Path(package_file).resolve().parents[2] / "migrations"


def alembic_config(database_url: str, migrations_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, migrations_dir: Path, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (sync; run it in a thread from async code)."""
    command.upgrade(alembic_config(database_url, migrations_dir), revision)


def downgrade(database_url: str, migrations_dir: Path, revision: str) -> None:
    command.downgrade(alembic_config(database_url, migrations_dir), revision)


def run_alembic_env(target_metadata: MetaData) -> None:
    """The body of every service's env.py (online mode, asyncpg)."""
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic config has no sqlalchemy.url; run migrations through upgrade()")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(run)
        await engine.dispose()

    asyncio.run(run_async())


def create_plumbing_tables() -> None:
    """Call from a service's first migration: outbox, processed/parked events, idempotency keys."""
    from alembic import op

    PLUMBING_METADATA.create_all(op.get_bind())


def drop_plumbing_tables() -> None:
    from alembic import op

    PLUMBING_METADATA.drop_all(op.get_bind())
