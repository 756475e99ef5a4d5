"""``python -m lectern_media serve|migrate``."""

from __future__ import annotations

import asyncio
import sys

from lectern_common.migrations import migrations_dir, upgrade
from lectern_common.structured_logging import setup_logging
from lectern_common.telemetry import setup_telemetry

from lectern_media.bootstrap import MediaApp
from lectern_media.settings import MediaSettings


async def serve(settings: MediaSettings) -> None:
    async with MediaApp(settings) as app:
        await app.runtime().run()


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "serve"
    settings = MediaSettings()
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    if command == "migrate":
        upgrade(settings.database_url, migrations_dir(settings.migrations_dir, __file__))
        return 0
    if command == "serve":
        setup_telemetry(settings.service_name, settings.otlp_endpoint)
        asyncio.run(serve(settings))
        return 0
    print(f"usage: python -m lectern_media serve|migrate (got {command!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
