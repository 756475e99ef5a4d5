"""``python -m lectern_gateway serve`` (``migrate`` is accepted and does nothing: no database)."""

from __future__ import annotations

import asyncio
import sys

from lectern_common.runtime import Runtime
from lectern_common.settings import load_settings
from lectern_common.structured_logging import setup_logging
from lectern_common.telemetry import setup_telemetry, shutdown_telemetry

from lectern_gateway.bootstrap import Gateway
from lectern_gateway.settings import GatewaySettings


async def serve(settings: GatewaySettings) -> None:
    async with Gateway.open(settings) as gateway:
        runtime = Runtime(grace_seconds=settings.shutdown_grace_seconds)
        runtime.add("http", gateway.serve)
        await runtime.run()


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "serve"
    settings = load_settings(GatewaySettings, program="lectern_gateway")
    setup_logging("gateway", settings.log_level, settings.log_json)
    if command == "migrate":
        return 0  # the gateway owns no database
    if command != "serve":
        print(f"usage: python -m lectern_gateway serve|migrate (got {command!r})", file=sys.stderr)
        return 2
    setup_telemetry("gateway", settings.otlp_endpoint)
    try:
        asyncio.run(serve(settings))
    finally:
        shutdown_telemetry()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
