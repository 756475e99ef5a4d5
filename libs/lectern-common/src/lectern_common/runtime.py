"""Every long-running part of a service is a ``run(stop)`` coroutine under one manager.

:class:`Runtime` starts them together, sets ``stop`` on SIGTERM/SIGINT so each can drain, and
if one of them dies unexpectedly stops the rest and exits non-zero, so the supervisor (the dev
launcher, Kubernetes) restarts the process whole instead of leaving it half alive.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

Part = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def run_on_fastest_loop(main: Coroutine[Any, Any, Any]) -> Any:
    """Run ``main`` on uvloop when the service depends on it (upload and realtime: fewer CPU
    cycles per byte and per socket), else on asyncio's own loop."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # a service without the uvloop dependency
        runner = asyncio.Runner()
    with runner:
        return runner.run(main)


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when ``stop`` is set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def wait_any(events: list[asyncio.Event], timeout: float) -> None:
    """Wait until any of ``events`` is set, or ``timeout`` passes."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class PartFailed(RuntimeError):
    pass


class Runtime:
    """Runs named parts until a signal or a failure; then stops them all within a grace period."""

    def __init__(self, *, grace_seconds: float = 10.0) -> None:
        self._parts: list[tuple[str, Part]] = []
        self._grace = grace_seconds
        self.stop = asyncio.Event()

    def add(self, name: str, part: Part) -> None:
        self._parts.append((name, part))

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        loop = asyncio.get_running_loop()
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop.set)
        tasks: dict[asyncio.Task[Any], str] = {
            asyncio.create_task(part(self.stop), name=name): name for name, part in self._parts
        }
        failed: str | None = None
        pending: set[asyncio.Task[Any]] = set(tasks)
        stop_waiter: asyncio.Task[Any] = asyncio.create_task(self.stop.wait())
        try:
            while pending and not self.stop.is_set():
                done, pending = await asyncio.wait(pending | {stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(stop_waiter)
                for task in done:
                    if task is stop_waiter:
                        continue
                    name = tasks[task]
                    if task.cancelled() or task.exception() is not None:
                        log.error("part %s failed; stopping the process", name, exc_info=task.exception())
                        failed = name
                    elif not self.stop.is_set():
                        log.info("part %s finished", name)
                if failed:
                    break
            self.stop.set()
            if pending:
                _, late = await asyncio.wait(pending, timeout=self._grace)
                for task in late:
                    log.warning("part %s did not stop within %.0fs; cancelling", tasks[task], self._grace)
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        finally:
            stop_waiter.cancel()
            if install_signal_handlers:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
        if failed:
            raise PartFailed(failed)
