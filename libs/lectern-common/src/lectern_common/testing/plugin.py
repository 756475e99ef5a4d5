"""The ``lectern`` pytest plugin: real infrastructure and the whole stack as session fixtures.

Registered through the ``pytest11`` entry point of lectern-common, so every test suite in the
workspace gets it. Fixtures:

* ``lectern_infra`` (session): an :class:`~lectern_common.devstack.infra.Infra` with PostgreSQL,
  Redis, Kafka and S3 started once per session, or taken from ``LECTERN_DATABASE_URL`` etc. when
  set. Its ``urls`` and helpers (``create_topics``, ``ensure_bucket``, ``s3_client``) are public.
* ``lectern_database_url`` (function): ``await lectern_database_url()`` creates a fresh, uniquely
  named database and returns its ``postgresql+asyncpg://`` URL; dropped after the test. Services
  run their own migrations on it.
* ``lectern_stack`` (session): the real launcher (``python -m lectern_common.devstack up --ports
  auto``) on the session's infrastructure; yields its :class:`StackState` (URLs, ports, secrets).

Importing this module imports nothing heavy: the dev stack is imported inside the fixtures, so a
test run that uses none of them pays nothing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from lectern_common.devstack.infra import Infra
    from lectern_common.devstack.state import StackState

DatabaseFactory = Callable[..., Awaitable[str]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def lectern_infra(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Infra]:
    """PostgreSQL, Redis, Kafka and S3 for the whole session (or the ones the environment names)."""
    from lectern_common.devstack.infra import Infra

    infra = Infra(tmp_path_factory.mktemp("lectern-infra"))
    await infra.start()
    try:
        yield infra
    finally:
        await infra.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def lectern_database_url(lectern_infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[DatabaseFactory]:
    """A factory: each call creates a new empty database named after the test and returns its URL."""
    created: list[str] = []
    label = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40] or "test"

    async def create(name_hint: str | None = None) -> str:
        hint = re.sub(r"[^a-z0-9]+", "_", (name_hint or label).lower()).strip("_")[:40] or "test"
        name = f"t_{hint}_{secrets.token_hex(4)}"
        url = await lectern_infra.create_database(name)
        created.append(name)
        return url

    yield create
    for name in created:
        await lectern_infra.drop_database(name)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def lectern_stack(lectern_infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StackState]:
    """The whole suite, started by the launcher on this session's infrastructure."""
    import os

    from lectern_common.testing.stack import LauncherProcess

    env = {**os.environ, **lectern_infra.urls.to_env()}
    launcher = LauncherProcess(
        tmp_path_factory.mktemp("lectern-stack"),
        # A unique prefix keeps these databases apart from any other stack on the same server.
        args=["--database-prefix", f"e2e{secrets.token_hex(3)}_", "--stop-grace", "5"],
        env=env,
    )
    launcher.start()
    try:
        yield await launcher.wait_ready()
    finally:
        await launcher.stop()
