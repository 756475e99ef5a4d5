"""Every part buffer of the process comes from one pool with one byte budget.

Each upload alone is bounded (one buffer filling plus its parts in flight), but a service taking
many uploads at once must be bounded too, or N uploads cost N x that and a pod's memory limit is
only a matter of how many instructors press "upload" together. When the budget is spent a PATCH
waits for a buffer, and while it waits its request body is not read, so TCP slows the client
down instead of memory growing. A wait that lasts too long ends the PATCH with a retryable error
after everything already received is kept (tus clients HEAD and resume).

Buffers are reused: a fresh part-sized allocation is an mmap whose every page faults in, which
costs more CPU than copying the bytes into it. Up to ``keep_idle`` free buffers stay allocated;
the others go back to the OS when released.
"""

from __future__ import annotations

import asyncio
from collections import deque


class PartBuffersBusy(Exception):
    """No part buffer became free within the wait: the service is at its memory budget."""


class PartBufferPool:
    def __init__(self, *, part_size: int, budget_bytes: int, keep_idle: int) -> None:
        self.part_size = part_size
        # Two buffers at least: one filling while one is in flight is the least that progresses.
        self.capacity = max(2, budget_bytes // part_size)
        self._keep_idle = keep_idle
        self._idle: list[bytearray] = []
        self._in_use = 0
        self.peak_in_use = 0
        # A waiter's future receives its buffer (or None: "allocate one") together with the slot.
        self._waiters: deque[asyncio.Future[bytearray | None]] = deque()

    @property
    def in_use(self) -> int:
        """Buffers handed out and not yet released or discarded."""
        return self._in_use

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, wait_seconds: float) -> bytearray:
        """A part-sized buffer (its old contents are garbage). Waits first-come first-served;
        raises :class:`PartBuffersBusy` after ``wait_seconds``."""
        if self._in_use < self.capacity and not self._waiters:
            self._in_use += 1
            self.peak_in_use = max(self.peak_in_use, self._in_use)
            return self._idle.pop() if self._idle else bytearray(self.part_size)
        waiter: asyncio.Future[bytearray | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(wait_seconds):
                handed = await asyncio.shield(waiter)
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as the wait ended: pass it on, not lose it.
                self._hand_on(waiter.result())
            else:
                waiter.cancel()
                self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise PartBuffersBusy() from None
            raise
        return handed if handed is not None else bytearray(self.part_size)

    def release(self, buffer: bytearray) -> None:
        """Give back a buffer nothing reads any more."""
        self._hand_on(buffer)

    def discard(self, buffer: bytearray) -> None:
        """Give back the slot of a buffer that must not be handed out again: a cancelled
        UploadPart's thread may still be sending it, or it was cut down to a tail."""
        del buffer
        self._hand_on(None)

    def _hand_on(self, buffer: bytearray | None) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(buffer)  # the slot moves to the waiter: in_use is unchanged
                return
        self._in_use -= 1
        if buffer is not None and len(self._idle) < self._keep_idle:
            self._idle.append(buffer)
