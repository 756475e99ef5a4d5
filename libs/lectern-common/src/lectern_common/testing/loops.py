"""Checks that building something makes nothing bound to an event loop.

gRPC channels, aiokafka clients and futures bind to the loop that is current when they are made.
A service's app is built inside the loop that runs it (``service_cli.run_service``), and building
it must not need a loop at all: then no entry point or test can bind its parts to the wrong one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def build_without_a_loop(factory: Callable[[], T]) -> T:
    """Call ``factory`` in a fresh thread that has no event loop and return what it built.

    In such a thread ``asyncio.get_event_loop()`` and ``get_running_loop()`` raise, so anything
    that would bind itself to a loop while being built (a gRPC channel, an aiokafka client, a
    future) makes this raise instead of silently picking up some loop.
    """
    built: list[T] = []
    failures: list[BaseException] = []

    def build() -> None:
        try:
            built.append(factory())
        except BaseException as exc:  # handed back to the caller's thread
            failures.append(exc)

    thread = threading.Thread(target=build, name="no-event-loop")
    thread.start()
    thread.join()
    if failures:
        raise failures[0]
    return built[0]
