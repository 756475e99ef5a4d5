"""One process of a service under the launcher: migrated once, started, restarted when it exits.

A service that exits is restarted with a visible log line and an exponential backoff (reset once
a run lasted :attr:`SupervisedService.healthy_after`); stopping is SIGTERM to its process group,
then SIGKILL after the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from lectern_common.devstack.environment import ServicePorts
from lectern_common.devstack.errors import LaunchError
from lectern_common.devstack.ports import port_answers
from lectern_common.devstack.process import ManagedProcess, NeverReady, wait_ready
from lectern_common.devstack.spec import ServiceSpec
from lectern_common.devstack.state import ServiceState


class Console:
    """The launcher's stdout: its own lines marked ``[launcher]``, service lines by service name."""

    def __init__(self, stream: IO[str] | None = None, width: int = 9) -> None:
        self.stream = stream or sys.stdout
        self.width = width

    def launcher(self, message: str) -> None:
        self._write(f"[launcher] {message}")

    def service(self, name: str, line: str) -> None:
        self._write(f"{name:<{self.width}} | {line}")

    def _write(self, text: str) -> None:
        try:
            print(text, file=self.stream, flush=True)
        except (BrokenPipeError, ValueError):
            pass  # nobody reads our output any more; keep supervising


class SupervisedService:
    """One process of a service: migrated once, started, and restarted with backoff whenever it exits."""

    min_backoff = 0.5
    max_backoff = 15.0
    healthy_after = 30.0
    """A run this long resets the backoff: it crashed, but not in a loop."""

    def __init__(
        self,
        spec: ServiceSpec,
        ports: ServicePorts,
        env: dict[str, str],
        database_url: str | None,
        run_dir: Path,
        console: Console,
        on_restarted: Callable[[], None],
        instance: str | None = None,
    ) -> None:
        self.spec = spec
        self.name = instance or spec.name
        """The spec's name, or ``<name>-2`` for a second replica of the same spec (``--replicas``)."""
        self.ports = ports
        self.env = env
        self.database_url = database_url
        self.log_file = run_dir / "logs" / f"{self.name}.log"
        self.console = console
        self.on_restarted = on_restarted
        self.restarts = 0
        self.process: ManagedProcess | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._announcers: set[asyncio.Task[None]] = set()

    @property
    def is_replica(self) -> bool:
        return self.name != self.spec.name

    def _command(self, verb: str) -> ManagedProcess:
        return ManagedProcess(
            self.name,
            [sys.executable, "-m", self.spec.module, verb],
            log_path=self.log_file,
            env=self.env,
            on_line=lambda line: self.console.service(self.name, line),
        )

    async def migrate(self, timeout: float) -> None:
        """Run ``python -m <module> migrate`` to completion; fail with its output."""
        process = self._command("migrate")
        await process.start()
        try:
            code = await asyncio.wait_for(process.wait(), timeout=timeout)
        except TimeoutError:
            await process.stop(grace=2)
            raise LaunchError(f"{self.name} migrate did not finish in {timeout:.0f}s") from None
        finally:
            if process.running:
                await process.stop(grace=2)
        if code != 0:
            raise LaunchError(f"{self.name} migrate failed with code {code}:\n{process.tail()}")

    async def start(self, timeout: float) -> None:
        """First start: the service must answer on its ports; an early exit fails the launch."""
        self.process = process = self._command("serve")
        await process.start()
        try:
            await wait_ready(process, self._answers, timeout)
        except NeverReady as exc:
            if exc.exit_code is not None:
                what = f"exited with code {exc.exit_code} before it was ready"
            else:
                what = f"did not answer on ports {self.ports.listening()} in {timeout:.0f}s"
            raise LaunchError(f"{self.name} {what}; log {self.log_file}, last lines:\n{process.tail()}") from None
        self._task = asyncio.create_task(self._supervise(), name=f"supervise-{self.name}")

    async def _answers(self) -> bool:
        for port in self.ports.listening():
            if not await port_answers(port, timeout=0.5):
                return False
        return True

    async def _supervise(self) -> None:
        backoff = self.min_backoff
        while True:
            assert self.process is not None
            started = time.monotonic()
            code = await self.process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > self.healthy_after:
                backoff = self.min_backoff
            self.restarts += 1
            self.console.launcher(
                f"{self.name} exited with code {code}, restarting (restart {self.restarts}) in {backoff:.1f}s"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
            if self._stopping.is_set():
                return
            backoff = min(backoff * 2, self.max_backoff)
            await self._restart()

    async def _restart(self) -> None:
        assert self.process is not None
        # Kill leftovers of the dead process's group before its ports are needed again.
        self.process.signal_group(signal.SIGKILL)
        self.process = self._command("serve")
        await self.process.start()
        self.on_restarted()
        announcer = asyncio.create_task(self._announce_back(self.process))
        self._announcers.add(announcer)
        announcer.add_done_callback(self._announcers.discard)

    async def _announce_back(self, process: ManagedProcess) -> None:
        for _ in range(300):
            if not process.running:
                return
            if await self._answers():
                self.console.launcher(f"{self.name} is back (pid {process.pid})")
                return
            await asyncio.sleep(0.2)

    async def stop(self, grace: float) -> None:
        self._stopping.set()
        if self.process is not None:
            await self.process.stop(grace=grace)
            if self.process.outlived_grace and grace > 0:
                self.console.launcher(f"{self.name} did not exit {grace:.0f}s after SIGTERM: killed")
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=5)

    def kill_now(self) -> None:
        self._stopping.set()
        if self.process is not None:
            self.process.kill_now()

    def state(self) -> ServiceState:
        urls = {
            f"{label} ({self.name})" if self.is_replica else label: self.ports.fill(template)
            for label, template in self.spec.urls.items()
        }
        return ServiceState(
            name=self.name,
            module=self.spec.module,
            pid=self.process.pid if self.process is not None else None,
            grpc_port=self.ports.grpc,
            http_port=self.ports.http,
            database_url=self.database_url,
            restarts=self.restarts,
            log_file=str(self.log_file),
            urls=urls,
            env={k: v for k, v in self.env.items() if k.startswith("LECTERN_")},
        )
