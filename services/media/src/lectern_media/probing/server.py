"""The probe server: ``python -m lectern_media.probing.server``, one long-lived process per probe
slot. It imports FFmpeg (PyAV) and boto3 once, then for each request (one JSON line on stdin)
forks a child that limits its own address space (RLIMIT_AS) and probes the file, and answers one
JSON line on stdout. Starting Python and importing those libraries costs about a second of CPU
(several seconds on a loaded machine); a fork costs milliseconds, and a file that exhausts its
memory or time still takes only its child down.

The server is single-threaded and holds no connection when it forks (each child makes its own S3
client), so forking is safe. The time limit is kept here: the child is killed at
``timeout_seconds``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

from lectern_media.probing.child import probe, size_words
from lectern_media.probing.schemas import ProbeOutcome, ProbeRequest, ProbeVerdict

_MEMORY_WORDS = ("MemoryError", "Cannot allocate memory", "failed to map segment", "bad_alloc")
# Signals a child that ran out of address space dies of inside C code (a failed allocation FFmpeg
# did not check, or its own abort).
_MEMORY_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS}


def _preload() -> None:
    import av  # noqa: F401
    import boto3
    import botocore.config  # noqa: F401

    import lectern_media.probing.inspection
    import lectern_media.probing.object_reader  # noqa: F401

    boto3.session.Session().get_available_services()  # loads botocore's data once, before forks


def _in_child(request: ProbeRequest, out: int) -> None:
    limits = request.limits
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        outcome = probe(request)
    except MemoryError:
        outcome = ProbeOutcome(
            ProbeVerdict.REJECTED,
            reason=f"reading this file needs more than {size_words(limits.memory_bytes)} of memory",
        )
    except BaseException as exc:  # anything else: the probe could not run; the parent retries
        text = f"{type(exc).__name__}: {exc}"
        if any(word in text for word in _MEMORY_WORDS):
            reason = f"reading this file needs more than {size_words(limits.memory_bytes)} of memory"
            outcome = ProbeOutcome(ProbeVerdict.REJECTED, reason=reason)
        else:
            outcome = ProbeOutcome(ProbeVerdict.RETRY, reason=f"the probe failed: {text[:500]}")
    data = json.dumps(outcome.to_json()).encode()
    while data:
        data = data[os.write(out, data) :]


def probe_in_child(request: ProbeRequest) -> ProbeOutcome:
    """Fork, probe in the child within its limits, and answer its outcome (with its time and
    peak RSS)."""
    limits = request.limits
    read_end, write_end = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        try:
            _in_child(request, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks: list[bytes] = []
    timed_out = False
    try:
        while True:
            remaining = started + limits.timeout_seconds - time.monotonic()
            if remaining <= 0:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            ready, _, _ = select.select([read_end], [], [], remaining)
            if ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - started
    peak = usage.ru_maxrss * 1024
    if timed_out:
        reason = f"reading this file took longer than {limits.timeout_seconds:g} s"
        return ProbeOutcome(ProbeVerdict.REJECTED, reason=reason, seconds=seconds, peak_rss_bytes=peak)
    if chunks:
        try:
            answered = ProbeOutcome.from_json(json.loads(b"".join(chunks)))
            return ProbeOutcome(
                answered.verdict,
                facts=answered.facts,
                reason=answered.reason,
                bytes_read=answered.bytes_read,
                seconds=seconds,
                peak_rss_bytes=peak,
            )
        except (ValueError, KeyError, TypeError):
            pass
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in _MEMORY_SIGNALS:
        reason = f"reading this file needs more than {size_words(limits.memory_bytes)} of memory"
        return ProbeOutcome(ProbeVerdict.REJECTED, reason=reason, seconds=seconds, peak_rss_bytes=peak)
    return ProbeOutcome(ProbeVerdict.RETRY, reason=f"the probe ended without an answer (status {status})")


def main() -> int:
    _preload()
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        outcome = probe_in_child(ProbeRequest.from_json(json.loads(line)))
        sys.stdout.write(json.dumps(outcome.to_json()) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
