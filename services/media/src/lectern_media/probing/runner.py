"""Runs one probe in a child process (``probing.child``) and turns whatever happens into a
ProbeOutcome: the child's answer; REJECTED when it overran its time or memory (the file is the
cause: a retry would do the same); RETRY when it could not run at all."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from lectern_media.probing.child import size_words
from lectern_media.probing.schemas import ProbeOutcome, ProbeRequest, ProbeVerdict

log = logging.getLogger(__name__)

# What a child that dies from its memory limit exits with: a MemoryError it could not report, or
# FFmpeg's abort / a segfault when an allocation fails deep inside C code.
_MEMORY_DEATHS = {-6, -11, 134, 139}
# What it says on stderr when an allocation or a shared library's mapping hit the limit.
_MEMORY_WORDS = ("MemoryError", "failed to map segment", "Cannot allocate memory", "bad_alloc")


class ProbeRunner:
    def __init__(self, *, python: str = sys.executable) -> None:
        self._python = python

    async def run(self, request: ProbeRequest) -> ProbeOutcome:
        limits = request.limits
        try:
            process = await asyncio.create_subprocess_exec(
                self._python,
                "-m",
                "lectern_media.probing.child",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            return ProbeOutcome(ProbeVerdict.RETRY, reason=f"the probe could not start: {exc}")
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate(json.dumps(request.to_json()).encode()), timeout=limits.timeout_seconds
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            reason = f"reading this file took longer than {limits.timeout_seconds:g} s"
            return ProbeOutcome(ProbeVerdict.REJECTED, reason=reason)
        except asyncio.CancelledError:
            # Shutting down mid-probe: the child goes too; the job's lease brings the file back.
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        if process.returncode == 0:
            try:
                return ProbeOutcome.from_json(json.loads(stdout))
            except (ValueError, KeyError, TypeError):
                log.warning("probe answered something unreadable: %r", stdout[:200])
                return ProbeOutcome(ProbeVerdict.RETRY, reason="the probe's answer was unreadable")
        text = stderr.decode(errors="replace")
        tail = text.strip().splitlines()[-1:] or [""]
        if process.returncode in _MEMORY_DEATHS or any(word in text for word in _MEMORY_WORDS):
            reason = f"reading this file needs more than {size_words(limits.memory_bytes)} of memory"
            return ProbeOutcome(ProbeVerdict.REJECTED, reason=reason)
        log.warning("probe exited %s: %s", process.returncode, tail[0])
        return ProbeOutcome(ProbeVerdict.RETRY, reason=f"the probe exited with {process.returncode}")
