"""The process runtime: parts stop together, and one failing part takes the process down."""

from __future__ import annotations

import asyncio

import pytest
from lectern_common.runtime import PartFailed, Runtime


async def test_stop_lets_every_part_drain() -> None:
    drained: list[str] = []
    runtime = Runtime(grace_seconds=2)

    def part(name: str):  # type: ignore[no-untyped-def]
        async def run(stop: asyncio.Event) -> None:
            await stop.wait()
            drained.append(name)

        return run

    runtime.add("a", part("a"))
    runtime.add("b", part("b"))
    task = asyncio.create_task(runtime.run(install_signal_handlers=False))
    await asyncio.sleep(0.05)
    runtime.stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert sorted(drained) == ["a", "b"]


async def test_a_failing_part_stops_the_others_and_fails_the_process() -> None:
    stopped = asyncio.Event()
    runtime = Runtime(grace_seconds=2)

    async def healthy(stop: asyncio.Event) -> None:
        await stop.wait()
        stopped.set()

    async def broken(stop: asyncio.Event) -> None:
        raise ConnectionError("lost the database for good")

    runtime.add("healthy", healthy)
    runtime.add("broken", broken)
    with pytest.raises(PartFailed, match="broken"):
        await asyncio.wait_for(runtime.run(install_signal_handlers=False), timeout=5)
    assert stopped.is_set()


async def test_a_part_that_ignores_stop_is_cancelled_after_the_grace() -> None:
    runtime = Runtime(grace_seconds=0.2)
    cancelled = asyncio.Event()

    async def stubborn(stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runtime.add("stubborn", stubborn)
    task = asyncio.create_task(runtime.run(install_signal_handlers=False))
    await asyncio.sleep(0.05)
    runtime.stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert cancelled.is_set()


async def test_a_part_that_finishes_on_its_own_leaves_the_others_running() -> None:
    runtime = Runtime(grace_seconds=2)
    others_stopped = asyncio.Event()

    async def one_shot(stop: asyncio.Event) -> None:
        return None

    async def long_running(stop: asyncio.Event) -> None:
        await stop.wait()
        others_stopped.set()

    runtime.add("one-shot", one_shot)
    runtime.add("long", long_running)
    task = asyncio.create_task(runtime.run(install_signal_handlers=False))
    await asyncio.sleep(0.1)
    assert not task.done() and not runtime.stop.is_set()
    runtime.stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert others_stopped.is_set()


async def test_every_part_finishing_ends_the_run_without_a_failure() -> None:
    runtime = Runtime(grace_seconds=2)

    async def one_shot(stop: asyncio.Event) -> None:
        return None

    runtime.add("a", one_shot)
    runtime.add("b", one_shot)
    await asyncio.wait_for(runtime.run(install_signal_handlers=False), timeout=5)
    assert runtime.stop.is_set()


async def test_a_part_cancelled_by_someone_else_fails_the_process_and_stops_the_others() -> None:
    runtime = Runtime(grace_seconds=2)
    stopped = asyncio.Event()

    async def healthy(stop: asyncio.Event) -> None:
        await stop.wait()
        stopped.set()

    async def cancelled(stop: asyncio.Event) -> None:
        raise asyncio.CancelledError

    runtime.add("healthy", healthy)
    runtime.add("cancelled", cancelled)
    with pytest.raises(PartFailed, match="cancelled"):
        await asyncio.wait_for(runtime.run(install_signal_handlers=False), timeout=5)
    assert stopped.is_set()
