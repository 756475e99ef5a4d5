"""``python -m lectern_<svc> serve|migrate``: the entry point every service shares.

``migrate`` runs the service's Alembic migrations; ``serve`` sets up logging and telemetry, builds
the service's app (its bootstrap: an async context manager with ``parts()``) and runs every part
under one :class:`~lectern_common.runtime.Runtime` until SIGTERM/SIGINT.

The app is built inside the running loop, never before it: gRPC channels, aiokafka clients and
futures bind to the loop that is current when they are made, and one made before ``asyncio.run``
binds to a loop that never runs (every call through it then fails with "attached to a different
loop", which is how media's calls to course failed under ``make up``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from lectern_common.migrations import migrations_dir, upgrade
from lectern_common.runtime import Part, Runtime
from lectern_common.settings import ServiceSettings, load_settings
from lectern_common.structured_logging import setup_logging
from lectern_common.telemetry import setup_telemetry, shutdown_telemetry


class ServiceApp(Protocol):
    def parts(self) -> Mapping[str, Part]: ...


S = TypeVar("S", bound=ServiceSettings)


async def serve(settings: S, app_factory: Callable[[S], AbstractAsyncContextManager[ServiceApp]]) -> None:
    """Build the app in this (running) loop, run every part until a signal, then close it."""
    async with app_factory(settings) as running:
        runtime = Runtime(grace_seconds=settings.shutdown_grace_seconds)
        for name, part in running.parts().items():
            runtime.add(name, part)
        await runtime.run()


def run_service(
    *,
    name: str,
    settings_factory: Callable[[], S],
    app_factory: Callable[[S], AbstractAsyncContextManager[ServiceApp]],
    package_file: str,
    argv: list[str] | None = None,
) -> int:
    """Parse ``serve|migrate`` and do it; ``package_file`` locates the service's migrations."""
    parser = argparse.ArgumentParser(prog=f"lectern_{name}")
    parser.add_argument("command", choices=["serve", "migrate"], nargs="?", default="serve")
    args = parser.parse_args(argv)
    settings = load_settings(settings_factory, program=f"lectern_{name}")
    setup_logging(name, settings.log_level, settings.log_json)
    if args.command == "migrate":
        upgrade(settings.database_url, migrations_dir(settings.migrations_dir, package_file))
        return 0
    setup_telemetry(name, settings.otlp_endpoint)
    try:
        asyncio.run(serve(settings, app_factory))
    finally:
        shutdown_telemetry()
    return 0
