"""Many deadlines on one loop timer: a wheel of whole-second slots.

A replica has a few deadlines a socket: its next keepalive ping, that ping's pong deadline, its
token's expiry. One ``TimerHandle`` each (uvicorn's keepalive, ``call_later`` for the expiry) is an
object and a libuv timer a socket, and every one fires on a loop wake-up of its own: 2,000 idle
sockets meant ~200 wake-ups a second (py-spy of an idle replica: its pings' writes and the loop's
own polling were ~90 % of its CPU). Here a member sits in the slot of the whole second its deadline
falls in (rounded up: deadlines of seconds to hours do not notice), one timer fires a slot's members
together, and a member costs a dict entry.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Member = TypeVar("Member", bound=Hashable)

_EARLY = 0.005
"""A timer may fire this much before its second (libuv's millisecond clock); the slot is due then."""


class SecondWheel(Generic[Member]):
    """``due(member)`` once a member's second comes; one loop timer, armed for the earliest slot."""

    def __init__(self, loop: asyncio.AbstractEventLoop, due: Callable[[Member], None]) -> None:
        self._loop = loop
        self._due = due
        self._slots: dict[int, dict[Member, None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick: int | None = None
        self._firing: tuple[int, dict[Member, None]] | None = None  # the slot being called, out of _slots

    def __len__(self) -> int:
        return sum(len(slot) for slot in self._slots.values())

    def members(self) -> list[Member]:
        """Every member waiting for its second (diagnostics and tests)."""
        return [member for slot in self._slots.values() for member in slot]

    def add(self, member: Member, delay: float) -> int:
        """``due(member)`` in ``delay`` seconds, rounded up to the second; answers the slot, for
        :meth:`discard`."""
        tick = math.ceil(self._loop.time() + delay)
        slot = self._slots.get(tick)
        if slot is None:
            slot = self._slots[tick] = {}
        slot[member] = None
        if self._timer_tick is None or tick < self._timer_tick:
            self._arm(tick)
        return tick

    def discard(self, member: Member, tick: int) -> None:
        """``member`` is no longer due at ``tick`` (nothing when it was not there)."""
        if self._firing is not None and self._firing[0] == tick:
            self._firing[1].pop(member, None)  # a member an earlier one's call discarded is not called
        slot = self._slots.get(tick)
        if slot is None:
            return
        slot.pop(member, None)
        if not slot:
            del self._slots[tick]
            if not self._slots and self._timer is not None:
                self._timer.cancel()
                self._timer, self._timer_tick = None, None

    def _arm(self, tick: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_tick = self._loop.call_at(tick, self._fire), tick

    def _fire(self) -> None:
        self._timer, self._timer_tick = None, None
        now = self._loop.time() + _EARLY
        for tick in sorted(tick for tick in self._slots if tick <= now):
            members = self._slots.pop(tick)
            self._firing = (tick, members)
            while members:
                member = next(iter(members))
                del members[member]
                try:
                    self._due(member)
                except Exception:  # one member's failure must not stop every other member's deadline
                    log.exception("a deadline's callback failed")
            self._firing = None
        if self._slots and self._timer is None:
            self._arm(min(self._slots))
