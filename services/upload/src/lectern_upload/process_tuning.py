"""How the serving process is tuned for moving large bodies: glibc's heap, the default executor
(S3 calls and the resumable hash run in threads), and what is imported at all.

``tune_malloc``, ``skip_httpx_cli`` and ``skip_cryptography`` run before the loop (``run_service``'s ``tune_process``);
``tune_loop`` runs in it, when the app is entered (see bootstrap.py).
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache

# Once the parts have started (and imported what they import lazily: aiokafka, ...).
STARTUP_TRIM_DELAY_SECONDS = 3.0
# S3 calls run in threads: parts in flight for many uploads at once need more than the default
# executor's cpu+4 workers.
IO_THREADS = 64


# Set by tune_process (the serving process only): the start-up trim then also freezes the heap.
_freeze_after_start = False


def tune_process() -> None:
    """Everything done before the loop starts."""
    global _freeze_after_start
    skip_httpx_cli()
    skip_cryptography()
    tune_malloc()
    _freeze_after_start = True


def tune_malloc() -> None:
    """Keep part-sized buffers out of glibc's heap.

    glibc raises its mmap threshold after the first large free, so 8 MiB part buffers end up in
    per-thread heap arenas that rarely shrink: RSS grows with every thread that touched a part.
    A fixed 1 MiB threshold (which also stops the dynamic adjustment) and two arenas keep each
    part buffer in its own mapping, returned to the OS when the part is sent.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_mmap_threshold, m_arena_max = -3, -8
        libc.mallopt(m_mmap_threshold, 1024 * 1024)
        libc.mallopt(m_arena_max, 2)
    except OSError:  # not glibc: nothing to tune
        pass


def skip_httpx_cli() -> None:
    """httpx (lectern_common's realtime publisher) imports its command-line tool, and with it
    click, rich and pygments (~6.5 MiB of RSS), unless that module is unimportable. This process
    never runs the ``httpx`` command; in-process users (tests) are left alone."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def skip_cryptography() -> None:
    """PyJWT imports ``cryptography`` whenever it is installed (~11 MiB of RSS, bench/upload), but
    this process signs only HS256 and checks the gateway's Ed25519 tokens through the OpenSSL that
    hashlib has loaded (lectern_common.ed25519). Marked unimportable before PyJWT is first
    imported (lectern_common.jwt_tokens imports it at the first token), so PyJWT loads without it
    and a use of cryptography here would fail loudly. A process that has either already (tests,
    which sign Ed25519 tokens) is left alone."""
    if "jwt" not in sys.modules and "cryptography" not in sys.modules:
        sys.modules["cryptography"] = None  # type: ignore[assignment]


@cache
def _io_executor() -> ThreadPoolExecutor:
    # One per process: threads start on demand, and a second app in the process (tests) reuses them.
    return ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="io")


def tune_loop() -> asyncio.TimerHandle:
    """In the running loop: the executor for threads, and a heap trim once start-up is over
    (answered, so closing the app cancels it)."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(_io_executor())
    return loop.call_later(STARTUP_TRIM_DELAY_SECONDS, trim_heap)


def trim_heap() -> None:
    """Give the heap's free pages back to the OS (glibc keeps them otherwise): start-up's
    temporaries (imports, settings, the wiring) would stay resident."""
    import gc

    gc.collect()
    if _freeze_after_start:
        # Start-up's objects (modules, the wiring) live as long as the process:
        # out of the collector's generations, no collection walks them again. Not in tests, whose
        # apps come and go in one process.
        gc.freeze()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
