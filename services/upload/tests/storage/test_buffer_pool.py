"""The process-wide part buffer pool: its budget, its order of service and its bookkeeping when
waits end early. Pure asyncio, nothing to stand in for."""

from __future__ import annotations

import asyncio

import pytest
from lectern_upload.storage.buffer_pool import PartBufferPool, PartBuffersBusy

PART = 1024


def pool(parts: int, keep_idle: int = 8) -> PartBufferPool:
    return PartBufferPool(part_size=PART, budget_bytes=parts * PART, keep_idle=keep_idle)


async def test_hands_out_part_sized_buffers_up_to_the_budget_then_refuses_after_the_wait() -> None:
    buffers = pool(3)
    held = [await buffers.acquire(1) for _ in range(3)]
    assert [len(b) for b in held] == [PART] * 3
    assert len({id(b) for b in held}) == 3
    with pytest.raises(PartBuffersBusy):
        await buffers.acquire(0.05)
    # The refused wait left nothing behind: a release serves the next caller at once.
    assert (buffers.in_use, buffers.waiting) == (3, 0)
    buffers.release(held.pop())
    assert len(await buffers.acquire(0.05)) == PART
    assert buffers.peak_in_use == 3


async def test_waiters_are_served_first_come_first_served_and_reuse_released_buffers() -> None:
    buffers = pool(2)
    first, second = await buffers.acquire(1), await buffers.acquire(1)
    order: list[str] = []

    async def wait(name: str) -> bytearray:
        buffer = await buffers.acquire(5)
        order.append(name)
        return buffer

    early = asyncio.create_task(wait("early"))
    await asyncio.sleep(0)
    late = asyncio.create_task(wait("late"))
    await asyncio.sleep(0)
    assert buffers.waiting == 2
    buffers.release(first)
    assert await early is first  # the very buffer, handed over with its slot
    buffers.release(second)
    assert await late is second
    assert order == ["early", "late"]
    assert buffers.in_use == 2  # both slots moved to the waiters, none was freed in between


async def test_a_newcomer_does_not_overtake_a_waiter() -> None:
    buffers = pool(2)
    first, _second = await buffers.acquire(1), await buffers.acquire(1)
    waiter = asyncio.create_task(buffers.acquire(5))
    await asyncio.sleep(0)
    buffers.release(first)
    # The slot belongs to the waiter now, so a newcomer finds the pool full.
    with pytest.raises(PartBuffersBusy):
        await buffers.acquire(0.01)
    assert await waiter is first


async def test_a_discarded_buffer_is_never_handed_out_again_but_its_slot_is() -> None:
    buffers = pool(2)
    first, second = await buffers.acquire(1), await buffers.acquire(1)
    waiter = asyncio.create_task(buffers.acquire(5))
    await asyncio.sleep(0)
    buffers.discard(first)
    fresh = await waiter
    assert fresh is not first and fresh is not second and len(fresh) == PART
    assert buffers.in_use == 2


async def test_a_cancelled_waiter_gives_up_its_place_and_loses_no_slot() -> None:
    buffers = pool(2)
    first, second = await buffers.acquire(1), await buffers.acquire(1)
    cancelled = asyncio.create_task(buffers.acquire(5))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert buffers.waiting == 0
    buffers.release(first)
    buffers.release(second)
    assert buffers.in_use == 0
    assert [len(await buffers.acquire(0.01)) for _ in range(2)] == [PART, PART]


async def test_a_slot_handed_over_as_the_wait_is_cancelled_passes_to_the_next_waiter() -> None:
    buffers = pool(2)
    first, _second = await buffers.acquire(1), await buffers.acquire(1)
    doomed = asyncio.create_task(buffers.acquire(5))
    await asyncio.sleep(0)
    heir = asyncio.create_task(buffers.acquire(5))
    await asyncio.sleep(0)
    buffers.release(first)  # hands the slot to `doomed`, which has not run yet...
    doomed.cancel()  # ...and is cancelled before it could take it
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert await heir is first
    assert buffers.in_use == 2


async def test_only_keep_idle_buffers_stay_allocated_when_released() -> None:
    buffers = pool(4, keep_idle=1)
    held = [await buffers.acquire(1) for _ in range(4)]
    for buffer in held:
        buffers.release(buffer)
    assert buffers.in_use == 0
    again = [await buffers.acquire(1) for _ in range(2)]
    assert sum(any(b is h for h in held) for b in again) == 1  # one reused, one newly allocated
