"""``python -m lectern_gateway serve`` (``migrate`` is accepted and does nothing: no database)."""

from __future__ import annotations

import asyncio
import sys

from lectern_common.service_cli import serve
from lectern_common.settings import load_settings
from lectern_common.structured_logging import setup_logging
from lectern_common.telemetry import setup_telemetry, shutdown_telemetry

from lectern_gateway.bootstrap import GatewayApp
from lectern_gateway.settings import GatewaySettings


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
        asyncio.run(serve(settings, GatewayApp))
    finally:
        shutdown_telemetry()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
