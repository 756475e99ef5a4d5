"""The launcher as a child of a test: start it, wait for its state file, stop it, check for leaks.

Used by the ``lectern_stack`` fixture and by the launcher's own tests, so both drive the real
``python -m lectern_common.devstack up`` exactly as a developer's ``make up`` does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from lectern_common.devstack.state import StackState


class LauncherFailed(RuntimeError):
    """The launcher exited or did not become ready; the message carries its output tail."""


class LauncherProcess:
    """``python -m lectern_common.devstack up --ports auto`` in its own process group.

    Its output goes to ``run_dir/launcher.out`` (read it with :meth:`output`); the state file is
    ``run_dir/state.json``.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.state_file = run_dir / "state.json"
        self.output_file = run_dir / "launcher.out"
        self.args = list(args)
        self.env = dict(os.environ if env is None else env)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.unlink(missing_ok=True)
        argv = [
            sys.executable,
            "-m",
            "lectern_common.devstack",
            "up",
            "--ports",
            "auto",
            "--run-dir",
            str(self.run_dir),
            "--state-file",
            str(self.state_file),
            *self.args,
        ]
        with self.output_file.open("wb") as out:
            self.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**self.env, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None, "launcher not started"
        return self.process.pid

    def output(self) -> str:
        return self.output_file.read_text(errors="replace") if self.output_file.exists() else ""

    def _failure(self, what: str) -> LauncherFailed:
        tail = "\n".join(self.output().splitlines()[-80:])
        return LauncherFailed(f"launcher {what}; output ({self.output_file}):\n{tail}")

    async def wait_ready(self, timeout: float = 300.0) -> StackState:
        """Wait for the state file (written once everything answers); fail early if it exits."""
        assert self.process is not None, "launcher not started"
        deadline = time.monotonic() + timeout
        while not self.state_file.exists():
            code = self.process.poll()
            if code is not None:
                raise self._failure(f"exited with code {code} before it was ready")
            if time.monotonic() > deadline:
                raise self._failure(f"not ready after {timeout:.0f}s")
            await asyncio.sleep(0.1)
        return self.state()

    def state(self) -> StackState:
        return StackState.read(self.state_file)

    async def wait_restarted(self, name: str, old_pid: int | None, timeout: float = 60.0) -> StackState:
        """Wait until the launcher restarted service ``name`` (another pid in the state file) and
        the new process answers on its ports; fail with the launcher's output at the deadline."""
        from lectern_common.devstack.ports import port_answers

        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            service = state.services[name]
            if service.pid not in (None, old_pid):
                ports = [p for p in (service.grpc_port, service.http_port) if p]
                if all([await port_answers(p, timeout=0.5) for p in ports]):
                    return state
            if time.monotonic() > deadline:
                raise self._failure(f"did not restart {name} (pid {old_pid}) within {timeout:.0f}s")
            await asyncio.sleep(0.1)

    async def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline:
                raise self._failure(f"did not print {text!r} within {timeout:.0f}s")
            await asyncio.sleep(0.1)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        """Send ``sig`` to the launcher only (it stops its children); SIGKILL its group on timeout."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                await asyncio.to_thread(self.process.wait, timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        return self.process.returncode
