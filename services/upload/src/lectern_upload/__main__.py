"""``python -m lectern_upload serve|migrate``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

from lectern_common.runtime import Runtime, run_on_fastest_loop
from lectern_common.settings import load_settings
from lectern_common.structured_logging import setup_logging

from lectern_upload.settings import UploadSettings

log = logging.getLogger("lectern_upload")

STARTUP_TRIM_DELAY_SECONDS = 3.0


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


def trim_heap() -> None:
    """Give the heap's free pages back to the OS (glibc keeps them otherwise): building the app
    parses botocore's S3 model and endpoint rules, whose temporaries would stay resident."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


async def serve(settings: UploadSettings) -> None:
    from lectern_upload.bootstrap import UploadApp

    # boto3 runs in threads: parts in flight for many uploads at once need more than the
    # default executor's cpu+4 workers.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64, thread_name_prefix="io"))
    async with UploadApp(settings) as app:
        runtime = Runtime(grace_seconds=settings.shutdown_grace_seconds)
        for name, part in app.parts().items():
            runtime.add(name, part)
        # Once the parts have started (and imported what they import lazily: aiokafka, ...).
        asyncio.get_running_loop().call_later(STARTUP_TRIM_DELAY_SECONDS, trim_heap)
        await runtime.run()


def skip_httpx_cli() -> None:
    """httpx (lectern_common's realtime publisher) imports its command-line tool, and with it
    click, rich and pygments (~6.5 MiB of RSS), unless that module is unimportable. This process
    never runs the ``httpx`` command; in-process users (tests) are left alone."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def main() -> None:
    skip_httpx_cli()
    parser = argparse.ArgumentParser(prog="lectern_upload")
    parser.add_argument("command", choices=["serve", "migrate"])
    args = parser.parse_args()
    # cryptography is loaded (unlike before, ~11 MiB of RSS): the gateway's internal tokens are
    # Ed25519-signed, so this internet-facing process holds only their public key.
    settings = load_settings(UploadSettings, program="lectern_upload")
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    if args.command == "migrate":
        # Alembic only here: the serving process never imports it.
        from lectern_common.migrations import migrations_dir, upgrade

        upgrade(settings.database_url, migrations_dir(settings.migrations_dir, __file__))
        return
    if settings.otlp_endpoint:
        # Tracing only when an exporter is configured: the instrumentations cost ~20 MiB of RSS.
        from lectern_common.telemetry import setup_telemetry

        setup_telemetry(settings.service_name, settings.otlp_endpoint)
    tune_malloc()
    # uvloop: ~11% less CPU per GiB received than asyncio's selector loop (bench/upload).
    run_on_fastest_loop(serve(settings))


if __name__ == "__main__":
    main()
