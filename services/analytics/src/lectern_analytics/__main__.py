"""``python -m lectern_analytics serve|migrate``."""

from __future__ import annotations

import argparse
import asyncio

from lectern_common.migrations import migrations_dir, upgrade
from lectern_common.runtime import Runtime
from lectern_common.structured_logging import setup_logging
from lectern_common.telemetry import setup_telemetry, shutdown_telemetry

from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.settings import AnalyticsSettings


async def serve(settings: AnalyticsSettings) -> None:
    async with AnalyticsApp(settings) as app:
        runtime = Runtime(grace_seconds=settings.shutdown_grace_seconds)
        for name, part in app.parts().items():
            runtime.add(name, part)
        await runtime.run()


def main() -> None:
    parser = argparse.ArgumentParser(prog="lectern_analytics")
    parser.add_argument("command", choices=["serve", "migrate"])
    args = parser.parse_args()
    settings = AnalyticsSettings()
    setup_logging("analytics", settings.log_level, settings.log_json)
    if args.command == "migrate":
        upgrade(settings.database_url, migrations_dir(settings.migrations_dir, __file__))
        return
    setup_telemetry("analytics", settings.otlp_endpoint)
    try:
        asyncio.run(serve(settings))
    finally:
        shutdown_telemetry()


if __name__ == "__main__":
    main()
