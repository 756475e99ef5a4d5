"""The faults section's own launched stack: the same launcher as ``make up`` (every service, real
processes on their real loops), with two upload replicas, its own Kafka broker and Redis (the
tests stop them), and the session's PostgreSQL and S3 (separate databases and bucket). The other
e2e tests keep using the session stack, which nothing here touches.

Each test leaves the stack whole: a stopped process is continued in ``finally``, a killed one is
restarted by the launcher's supervisor and waited for, and every test starts by checking that
every process runs and answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from lectern_common.devstack.infra import ENV_KAFKA_BOOTSTRAP, ENV_REDIS_URL, Infra
from lectern_common.devstack.ports import port_answers
from lectern_common.devstack.state import StackState
from lectern_common.testing.stack import LauncherProcess

PART_SIZE = 5 * 1024 * 1024  # S3's smallest part, so a few MiB cross part boundaries
BUCKET = "lectern-faults"


@dataclass
class FaultStack:
    launcher: LauncherProcess
    infra: Infra

    @property
    def state(self) -> StackState:
        return self.launcher.state()

    @property
    def gateway(self) -> str:
        return self.state.urls["gateway"]

    def pid(self, name: str) -> int:
        """A service's pid (``upload``, ``upload-2``, ...) or an infrastructure server's (``kafka``)."""
        state = self.state
        pid = state.services[name].pid if name in state.services else state.infra_pids[name]
        assert pid is not None, f"{name} has no pid"
        return pid

    def tus_base(self, name: str = "upload") -> str:
        return f"http://127.0.0.1:{self.state.services[name].http_port}/files/"

    @contextlib.contextmanager
    def stopped(self, name: str) -> Iterator[int]:
        """SIGSTOP ``name`` for the block; SIGCONT always follows, whatever the block raised."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGSTOP)
        try:
            yield pid
        finally:
            os.kill(pid, signal.SIGCONT)

    async def kill_and_wait_restarted(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a service and wait until the launcher's supervisor has it answering again."""
        old = self.pid(name)
        os.kill(old, sig)
        await self.launcher.wait_restarted(name, old, timeout=90)

    async def wait_whole(self, timeout: float = 90) -> None:
        """Every service and server of this stack runs (not stopped) and answers on its ports."""
        import psutil

        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            state = self.state
            problems = []
            for name, pid in [*((n, s.pid) for n, s in state.services.items()), *state.infra_pids.items()]:
                try:
                    if pid is None or psutil.Process(pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE):
                        problems.append(f"{name} not running")
                except psutil.NoSuchProcess:
                    problems.append(f"{name} gone")
            for name, service in state.services.items():
                for port in (service.grpc_port, service.http_port):
                    if port and not await port_answers(port, timeout=0.5):
                        problems.append(f"{name}:{port} does not answer")
            if not problems:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"fault stack is not whole: {problems}")
            await asyncio.sleep(0.2)

    async def stored_sha256(self, key: str) -> str:
        """The sha256 of an object as S3 holds it (read back from the server, not from a service)."""

        def read() -> str:
            body = self.infra.s3_client().get_object(Bucket=self.state.s3_bucket, Key=key)["Body"].read()
            return hashlib.sha256(body).hexdigest()

        return await asyncio.to_thread(read)

    async def sql(self, service: str, statement: str, *args: Any) -> list[Any]:
        """One query on a service's own database (to observe state, never to change it)."""
        import asyncpg

        url = self.state.services[service].database_url
        assert url is not None
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=10)
        try:
            return list(await conn.fetch(statement, *args))
        finally:
            await conn.close()


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def fault_stack(lectern_infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultStack]:
    shared = {k: v for k, v in lectern_infra.urls.to_env().items() if k not in (ENV_KAFKA_BOOTSTRAP, ENV_REDIS_URL)}
    env = {k: v for k, v in os.environ.items() if k not in (ENV_KAFKA_BOOTSTRAP, ENV_REDIS_URL)}
    env.update(shared)
    env["LECTERN_UPLOAD_PART_SIZE_BYTES"] = str(PART_SIZE)
    launcher = LauncherProcess(
        tmp_path_factory.mktemp("lectern-faults"),
        args=[
            "--database-prefix",
            f"faults{secrets.token_hex(3)}_",
            "--bucket",
            BUCKET,
            "--replicas",
            "upload=2",
            "--stop-grace",
            "5",
        ],
        env=env,
    )
    launcher.start()
    try:
        await launcher.wait_ready()
        yield FaultStack(launcher, lectern_infra)
    finally:
        await launcher.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def stack(fault_stack: FaultStack) -> FaultStack:
    """The fault stack, checked whole before the test (the previous one may have restarted parts)."""
    await fault_stack.wait_whole()
    return fault_stack
