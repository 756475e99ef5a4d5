"""Runs probes in probe servers (``probing.server``): long-lived processes that import FFmpeg once
and fork a child per file. Whatever happens becomes a ProbeOutcome: the child's answer; REJECTED
when it overran its time or memory (the file is the cause: a retry would do the same); RETRY when
the probe could not run at all (the server died, or did not answer in time).

One server per slot (``slots``: probes at once); a server that misbehaves is killed with its
process group (its children too) and started again for the next probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from typing import Any

from lectern_media.probing.schemas import ProbeOutcome, ProbeRequest, ProbeVerdict

log = logging.getLogger(__name__)

# How long a server may take to start (imports on a loaded machine), and how long past a probe's
# own time limit the server may take to answer (the server enforces the limit itself).
START_TIMEOUT_SECONDS = 120.0
ANSWER_GRACE_SECONDS = 30.0


class _ProbeServer:
    def __init__(self, python: str) -> None:
        self._python = python
        self._process: asyncio.subprocess.Process | None = None

    async def _ensure_started(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        process = await asyncio.create_subprocess_exec(
            self._python,
            "-m",
            "lectern_media.probing.server",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: killing it kills its children too
            limit=1024 * 1024,
        )
        self._process = process
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_SECONDS)
            if not json.loads(line or b"{}").get("ready"):
                raise RuntimeError("the probe server did not start")
        except BaseException:
            await self.kill()
            raise
        return process

    async def probe(self, request: ProbeRequest) -> ProbeOutcome:
        try:
            process = await self._ensure_started()
        except (OSError, RuntimeError, TimeoutError, ValueError) as exc:
            return ProbeOutcome(ProbeVerdict.RETRY, reason=f"the probe could not start: {exc!r}")
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(request.to_json()).encode() + b"\n")
            await process.stdin.drain()
            line = await asyncio.wait_for(
                process.stdout.readline(), request.limits.timeout_seconds + ANSWER_GRACE_SECONDS
            )
        except (OSError, TimeoutError, ValueError) as exc:
            await self.kill()
            return ProbeOutcome(ProbeVerdict.RETRY, reason=f"the probe server failed: {exc!r}")
        except asyncio.CancelledError:
            await self.kill()  # stopping mid-probe: the server and its child go
            raise
        if not line:
            await self.kill()
            return ProbeOutcome(ProbeVerdict.RETRY, reason="the probe server exited")
        try:
            return ProbeOutcome.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            log.warning("probe answered something unreadable: %r", line[:200])
            await self.kill()
            return ProbeOutcome(ProbeVerdict.RETRY, reason="the probe's answer was unreadable")

    async def kill(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()

    async def close(self) -> None:
        process = self._process
        if process is not None and process.returncode is None and process.stdin is not None:
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                pass
        await self.kill()


class ProbeRunner:
    def __init__(self, *, slots: int = 1, python: str = sys.executable) -> None:
        self._free: asyncio.Queue[_ProbeServer] | None = None
        self._servers = [_ProbeServer(python) for _ in range(slots)]

    def _queue(self) -> asyncio.Queue[_ProbeServer]:
        # Made in the running loop on first use (nothing loop-bound at construction).
        if self._free is None:
            self._free = asyncio.Queue()
            for server in self._servers:
                self._free.put_nowait(server)
        return self._free

    async def run(self, request: ProbeRequest) -> ProbeOutcome:
        """Probe one file in a free server (waiting for one when every slot is busy)."""
        free = self._queue()
        server = await free.get()
        try:
            return await server.probe(request)
        finally:
            free.put_nowait(server)

    async def aclose(self) -> None:
        await asyncio.gather(*(server.close() for server in self._servers), return_exceptions=True)

    async def __aenter__(self) -> ProbeRunner:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
