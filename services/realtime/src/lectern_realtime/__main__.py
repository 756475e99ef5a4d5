"""``python -m lectern_realtime serve``: the whole replica in one process under the Runtime."""

from __future__ import annotations

import argparse
import asyncio
import sys

from lectern_common.runtime import Runtime
from lectern_common.structured_logging import setup_logging
from lectern_common.telemetry import setup_telemetry

from lectern_realtime.bootstrap import build_realtime
from lectern_realtime.settings import RealtimeSettings


async def serve(settings: RealtimeSettings) -> None:
    async with build_realtime(settings) as realtime:
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
    settings = RealtimeSettings()
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    setup_telemetry(settings.service_name, settings.otlp_endpoint)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.Runner()
    with runner:
        runner.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
