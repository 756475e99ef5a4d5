"""What every server the dev stack starts shares: fresh data, one process, a readiness check."""

from __future__ import annotations

import importlib.util
import shutil
import sysconfig
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lectern_common.devstack.process import ManagedProcess, NeverReady, wait_ready


class InfraError(RuntimeError):
    """A server did not start or a helper could not do its job; the message says why."""


class Server:
    """A server the dev stack starts itself: one managed process plus a readiness check.

    Data is thrown away at each start (see :mod:`lectern_common.devstack.infra` for why).
    """

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
        assert self.process is not None, f"{self.name} was never spawned"
        try:
            await wait_ready(self.process, check, timeout)
        except NeverReady as exc:
            if exc.exit_code is None:
                raise self._error(f"not ready after {timeout:.0f}s") from None
            raise self._error(f"exited with code {exc.exit_code} while starting") from None

    def _error(self, what: str) -> InfraError:
        tail = self.process.tail() if self.process is not None else ""
        return InfraError(f"{self.name} {what}; log {self.log_path}, last lines:\n{tail}")

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop(grace=self.stop_grace)

    def kill_now(self) -> None:
        if self.process is not None:
            self.process.kill_now()


def package_dir(module: str, distribution: str) -> Path:
    """Where a package lives, found without importing it (some print warnings at import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InfraError(
            f"package {distribution!r} is not installed; install lectern-common[devstack] "
            f"(make up / uv sync do) or set the server's URL in the environment"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def venv_binary(name: str) -> Path:
    """A binary a pip package installed into this interpreter's scripts directory (else PATH)."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise InfraError(f"{name!r} not found next to {sysconfig.get_path('scripts')} nor on PATH")
    return Path(found)
