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

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


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
            for sig in _SIGNALS:
                loop.add_signal_handler(sig, self.stop.set)
        tasks: dict[asyncio.Task[Any], str] = {
            asyncio.create_task(part(self.stop), name=name): name for name, part in self._parts
        }
        try:
            failed = await self._until_stop_or_failure(tasks)
            self.stop.set()
            await self._drain(tasks)
        finally:
            if install_signal_handlers:
                for sig in _SIGNALS:
                    loop.remove_signal_handler(sig)
        if failed:
            raise PartFailed(failed)

    async def _until_stop_or_failure(self, tasks: dict[asyncio.Task[Any], str]) -> str | None:
        """Until ``stop`` is set, a part fails (its name is answered) or every part has finished."""
        failed: str | None = None
        pending: set[asyncio.Task[Any]] = set(tasks)
        stop_waiter: asyncio.Task[Any] = asyncio.create_task(self.stop.wait())
        try:
            while pending and not self.stop.is_set() and not failed:
                done, pending = await asyncio.wait(pending | {stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(stop_waiter)
                for task in done - {stop_waiter}:
                    failed = self._failed_name(tasks[task], task) or failed
        finally:
            stop_waiter.cancel()
        return failed

    def _failed_name(self, name: str, task: asyncio.Task[Any]) -> str | None:
        """``name`` if the part's task failed (or was cancelled by someone else), logged either way."""
        if task.cancelled() or task.exception() is not None:
            error = None if task.cancelled() else task.exception()
            log.error("part %s failed; stopping the process", name, exc_info=error)
            return name
        if not self.stop.is_set():
            log.info("part %s finished", name)
        return None

    async def _drain(self, tasks: dict[asyncio.Task[Any], str]) -> None:
        """Give the parts still running the grace period to return after ``stop``; cancel the late."""
        pending = [task for task in tasks if not task.done()]
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=self._grace)
        for task in late:
            log.warning("part %s did not stop within %.0fs; cancelling", tasks[task], self._grace)
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
