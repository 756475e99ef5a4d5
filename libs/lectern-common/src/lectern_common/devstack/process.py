"""Child processes the dev stack owns: each in its own process group, always stoppable as a whole.

Every server and service runs in a new session (``start_new_session``), so that a terminal's Ctrl-C
reaches only the launcher, which then stops things in order, and so that stopping a child means
signalling its whole group: ``weed server`` and PostgreSQL both fork helpers that must not
outlive them. On Linux each child also gets ``PR_SET_PDEATHSIG=SIGKILL``, a safety net for the case
where the launcher itself is killed with SIGKILL and can run no clean-up at all.

Why not mirakuru (the usual library for "start a process, wait until it answers"): its executors
are synchronous (``Popen`` and ``time.sleep`` polling) where the launcher supervises everything on
one event loop; it sets its own ``preexec_fn`` (``os.setsid``), leaving no room for the parent-death
signal or PostgreSQL's unprivileged user; and it either leaves the child's output in a pipe or hands
it to a file, where the launcher streams each line to a log and to the console, prefixed. What it
would replace is :meth:`ManagedProcess.start` and :func:`wait_ready`, a few dozen lines.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    """Resolve ``prctl`` once in the parent: the child between fork and exec should do no lookups."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl = getattr(libc, "prctl", None)
    return prctl if callable(prctl) else None


_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    """Run in the child after fork (and after ``user=`` took effect, which would reset the flag)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class ManagedProcess:
    """One child process in its own process group, with its output kept for error messages.

    Output goes to ``log_path``; when ``on_line`` is given, each line is also handed to it (the
    launcher prefixes service lines with the service name). The last lines are kept in memory so a
    readiness failure can show why the child did not come up.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        on_line: Callable[[str], None] | None = None,
        stop_signal: int = signal.SIGTERM,
        tail_lines: int = 60,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.on_line = on_line
        self.stop_signal = stop_signal
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._proc: asyncio.subprocess.Process | None = None
        self.outlived_grace = False
        """Set by :meth:`stop` when the child was still running after the grace and got SIGKILL."""
        self._pump: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        """Spawn the child; output is pumped to the log file (and ``on_line``) in the background."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._tail.clear()
        user_kwargs: dict[str, object] = {}
        if self.user is not None:
            # Drop root's supplementary groups too, not only the uid/gid.
            user_kwargs = {"user": self.user, "group": _primary_group(self.user), "extra_groups": []}
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            **user_kwargs,  # type: ignore[arg-type]
        )
        assert self._proc.stdout is not None
        self._pump = asyncio.create_task(self._pump_output(self._proc.stdout), name=f"{self.name}-output")

    async def _pump_output(self, stream: asyncio.StreamReader) -> None:
        with self.log_path.open("ab", buffering=0) as log:
            while True:
                try:
                    raw = await stream.readline()
                except ValueError:  # a line longer than the stream limit: take what is buffered
                    raw = await stream.read(65536)
                if not raw:
                    return
                log.write(raw)
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                self._tail.append(line)
                if self.on_line is not None:
                    self.on_line(line)

    async def wait(self) -> int:
        """Wait for the child to exit and its output to be fully read; return its exit code."""
        assert self._proc is not None, f"{self.name} was never started"
        code = await self._proc.wait()
        if self._pump is not None:
            # The pipe closes when every holder exits; a forked helper could keep it open.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._pump), timeout=2.0)
        return code

    def tail(self) -> str:
        """The last lines the child printed, for error messages."""
        return "\n".join(self._tail)

    def signal_group(self, sig: int) -> None:
        """Signal the child's whole process group (its helpers too); a vanished group is fine."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    async def stop(self, grace: float = 10.0) -> int | None:
        """Signal the group (``stop_signal``), wait up to ``grace`` seconds, then SIGKILL what is left.

        The final SIGKILL goes to the group even when the leader exited in time, so a helper that
        ignored SIGTERM does not linger (the group id cannot be reused while any member lives).
        """
        if self._proc is None:
            return None
        self.outlived_grace = False
        if self._proc.returncode is None:
            self.signal_group(self.stop_signal)
            try:
                await asyncio.wait_for(self._proc.wait(), timeout=grace)
            except TimeoutError:
                self.outlived_grace = True
        self.signal_group(signal.SIGKILL)
        try:
            code = await asyncio.wait_for(self.wait(), timeout=10.0)
        except TimeoutError:
            code = None
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        return code

    def kill_now(self) -> None:
        """Synchronous last resort (interpreter exit): SIGKILL the group without waiting."""
        self.signal_group(signal.SIGKILL)


class NeverReady(Exception):
    """The child exited before it was ready (``exit_code`` set) or did not get ready in time (None)."""

    def __init__(self, exit_code: int | None) -> None:
        super().__init__(f"exited with code {exit_code}" if exit_code is not None else "not ready in time")
        self.exit_code = exit_code


async def wait_ready(
    process: ManagedProcess,
    check: Callable[[], Awaitable[bool]],
    timeout: float,
    *,
    interval: float = 0.1,
) -> None:
    """Poll ``check`` until it returns True; :class:`NeverReady` as soon as the child exits, or at
    the deadline. A check that raises counts as "not yet" (connection refused, protocol not up)."""
    deadline = time.monotonic() + timeout
    while True:
        if not process.running:
            raise NeverReady(await process.wait())
        with contextlib.suppress(Exception):
            if await check():
                return
        if time.monotonic() > deadline:
            raise NeverReady(None)
        await asyncio.sleep(interval)


def _primary_group(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid
