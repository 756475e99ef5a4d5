"""``python -m lectern_realtime serve``: the whole replica in one process under the Runtime."""

from __future__ import annotations

import argparse
import gc
import sys

from lectern_common.runtime import Runtime, run_on_fastest_loop
from lectern_common.settings import load_settings
from lectern_common.structured_logging import setup_logging
from lectern_common.telemetry import setup_telemetry

from lectern_realtime.bootstrap import build_realtime
from lectern_realtime.settings import RealtimeSettings

# A replica holds ~100 long-lived objects a socket; with CPython's default thresholds a full
# collection walks all of them (measured: pauses up to 1.5 s at 10k sockets, every message on the
# replica waiting behind them). Young collections stay frequent and cheap; full ones become rare.
GC_THRESHOLDS = (1_000, 10, 1_000)


def tune_gc() -> None:
    """Move what startup made (imports, wiring) out of the collector's sight; make full collections rare."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve(settings: RealtimeSettings) -> None:
    async with build_realtime(settings) as realtime:
        tune_gc()
        runtime = Runtime(grace_seconds=settings.shutdown_grace_seconds)
        for name, part in realtime.parts():
            runtime.add(name, part)
        await runtime.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lectern_realtime")
    parser.add_argument("command", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    if args.command == "migrate":
        return 0  # no database: Redis keeps everything realtime keeps
    settings = load_settings(RealtimeSettings, program="lectern_realtime")
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    setup_telemetry(settings.service_name, settings.otlp_endpoint)
    run_on_fastest_loop(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
