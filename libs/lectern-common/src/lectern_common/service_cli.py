"""``python -m lectern_<svc> serve|migrate``: the one entry point every service shares.

A service's ``__main__.py`` is one call::

    def main() -> int:
        return run_service(
            name="course", settings_factory=CourseSettings, app_factory=CourseApp, package_file=__file__
        )

The contract: ``app_factory(settings)`` (the service's ``XApp``) is an async context manager built
inside the running loop, whose ``parts()`` answer ``{name: run(stop)}``; ``serve`` runs every part
under one :class:`~lectern_common.runtime.Runtime` until SIGTERM/SIGINT, then leaves the context
(closing what the app opened). ``migrate`` runs the service's Alembic migrations.

What differs between services is said by keyword, not by a ``__main__`` of their own:

* ``loop="fastest"``: run on uvloop when it is installed (upload, realtime: fewer CPU cycles per
  byte and per socket), see :func:`~lectern_common.runtime.run_on_fastest_loop`. Default
  ``"asyncio"``.
* ``tune_process``: called once before the loop starts (after logging and telemetry), for process
  tuning such as glibc's ``mallopt`` or the garbage collector's thresholds. Tuning that must see
  the built app (``gc.freeze()`` after the wiring exists) belongs at the end of the app's
  ``__aenter__``.
* ``migrations=False``: the service owns no database; ``migrate`` is accepted and does nothing,
  so every service's image answers the same two commands.
* ``tracing="when_exporting"``: set up tracing only when an OTLP endpoint is configured (upload: the
  instrumentations cost ~20 MiB of RSS). Default ``"always"``: logs carry trace ids and context
  crosses gRPC, HTTP and Kafka even when no span is exported.

The app is built inside the running loop, never before it: gRPC channels, aiokafka clients and
futures bind to the loop that is current when they are made, and one made before ``asyncio.run``
binds to a loop that never runs (every call through it then fails with "attached to a different
loop", which is how media's calls to course failed under ``make up``). Alembic and the telemetry
SDK are imported only by the command that uses them.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol, TypeVar

from lectern_common.runtime import Part, Runtime, run_on_fastest_loop
from lectern_common.settings import ServiceSettings, load_settings
from lectern_common.structured_logging import setup_logging

Loop = Literal["asyncio", "fastest"]
Tracing = Literal["always", "when_exporting"]


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
    loop: Loop = "asyncio",
    tune_process: Callable[[], None] | None = None,
    migrations: bool = True,
    tracing: Tracing = "always",
) -> int:
    """Parse ``serve|migrate`` and do it; ``package_file`` locates the service's migrations."""
    parser = argparse.ArgumentParser(prog=f"lectern_{name}")
    parser.add_argument("command", choices=["serve", "migrate"], nargs="?", default="serve")
    args = parser.parse_args(argv)
    settings = load_settings(settings_factory, program=f"lectern_{name}")
    setup_logging(name, settings.log_level, settings.log_json)
    if args.command == "migrate":
        if migrations:
            _migrate(settings, package_file)
        return 0
    telemetry = tracing == "always" or bool(settings.otlp_endpoint)
    if telemetry:
        from lectern_common.telemetry import setup_telemetry

        setup_telemetry(name, settings.otlp_endpoint)
    if tune_process is not None:
        tune_process()
    try:
        _run_loop(serve(settings, app_factory), loop)
    finally:
        if telemetry:
            from lectern_common.telemetry import shutdown_telemetry

            shutdown_telemetry()
    return 0


def _migrate(settings: ServiceSettings, package_file: str) -> None:
    # Alembic only here: a serving process never imports it.
    from lectern_common.migrations import migrations_dir, upgrade

    upgrade(settings.database_url, migrations_dir(settings.migrations_dir, package_file))


def _run_loop(main: Coroutine[Any, Any, None], loop: Loop) -> None:
    if loop == "fastest":
        run_on_fastest_loop(main)
    else:
        asyncio.run(main)
