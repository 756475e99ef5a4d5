"""What the course bench watches besides the clock, in counts the machine's load does not change:
every garbage collection (generation and pause, through ``gc.callbacks``), the pool (connections
opened, most checked out at once) and the statements sent. Each measured call is one ``Window``.
"""

from __future__ import annotations

import enum
import gc
import statistics
import time
import types
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# A call is "paused by the collector" when collections inside it took at least this long.
PAUSED_MS = 1.0


class GcWatch:
    """Every collection the collector runs while installed, as (generation, pause in ms)."""

    def __init__(self) -> None:
        self.collections: list[tuple[int, float]] = []
        self._started = 0.0

    def install(self) -> GcWatch:
        gc.callbacks.append(self._seen)
        return self

    def _seen(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.collections.append((info["generation"], (time.perf_counter() - self._started) * 1000))


class EngineWatch:
    """Statements sent (except the readiness probe's ``SELECT 1`` every 2 s, part of no call),
    connections opened, and the most connections checked out at once (a checkout can only wait
    for a connection when all ``pool_size`` of them are out)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements = 0
        self.connections_opened = 0
        self.most_checked_out = 0
        self._pool = engine.sync_engine.pool
        event.listen(engine.sync_engine, "before_cursor_execute", self._statement)
        event.listen(engine.sync_engine, "connect", self._connected)
        event.listen(engine.sync_engine, "checkout", self._checked_out)

    def pool_size(self) -> int:
        return int(self._pool.size())  # type: ignore[attr-defined]

    def _statement(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.strip().upper() != "SELECT 1":
            self.statements += 1

    def _connected(self, *args: object) -> None:
        self.connections_opened += 1

    def _checked_out(self, *args: object) -> None:
        self.most_checked_out = max(self.most_checked_out, self._pool.checkedout())  # type: ignore[attr-defined]


@dataclass
class Calls:
    """The measured calls of one measurement: time, statements and the collections inside each."""

    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    collections: list[list[tuple[int, float]]] = field(default_factory=list)
    connections_opened: int = 0
    most_checked_out: int = 0


class Window:
    """One measured call: start it, run the call, stop it. Only what happens in between counts."""

    def __init__(self, calls: Calls, gc_watch: GcWatch, engine: EngineWatch) -> None:
        self._calls, self._gc, self._engine = calls, gc_watch, engine

    def start(self) -> None:
        self._gc_mark = len(self._gc.collections)
        self._statements = self._engine.statements
        self._opened = self._engine.connections_opened
        self._engine.most_checked_out = 0
        self._cpu = time.process_time()
        self._started = time.perf_counter()

    def stop(self) -> None:
        elapsed = (time.perf_counter() - self._started) * 1000
        cpu = (time.process_time() - self._cpu) * 1000
        calls = self._calls
        calls.times.append(elapsed)
        calls.cpu.append(cpu)
        calls.statements.append(self._engine.statements - self._statements)
        calls.collections.append(self._gc.collections[self._gc_mark :])
        calls.connections_opened += self._engine.connections_opened - self._opened
        calls.most_checked_out = max(calls.most_checked_out, self._engine.most_checked_out)


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99, statistics.fmean(ordered)


def report(name: str, calls: Calls, pool_size: int) -> None:
    runs = len(calls.times)
    p50, p99, mean = percentiles(calls.times)
    low, high = min(calls.statements), max(calls.statements)
    spread = f"{low}" if low == high else f"{low}-{high}"
    print(f"  {name:<44} runs={runs:<4} p50={p50:7.2f} ms  p99={p99:7.2f} ms  mean={mean:7.2f} ms  SQL/call={spread}")
    everything = [c for inside in calls.collections for c in inside]
    by_generation = Counter(generation for generation, _ in everything)
    pause_of = [sum(ms for _, ms in inside) for inside in calls.collections]
    longest = max(everything, key=lambda c: c[1], default=(0, 0.0))
    print(
        f"      gc in the measured calls: {len(everything)} collections ({len(everything) / runs:.2f}/call: "
        + ", ".join(f"gen{g} {by_generation[g]}" for g in range(3))
        + f"), paused {sum(pause_of):.1f} ms in all, longest {longest[1]:.1f} ms (gen{longest[0]}); "
        f"gen2 pauses: {_pauses(everything, 2)}"
    )
    unpaused = [t for t, pause in zip(calls.times, pause_of, strict=True) if pause < PAUSED_MS]
    paused = runs - len(unpaused)
    without = f"{percentiles(unpaused)[1]:7.2f} ms" if unpaused else "n/a"
    minus_gc = percentiles([t - pause for t, pause in zip(calls.times, pause_of, strict=True)])[1]
    print(
        f"      {paused} of {runs} calls paused >= {PAUSED_MS:g} ms by gc; p99 without them {without}; "
        f"p99 with each call's gc time taken out {minus_gc:7.2f} ms"
    )
    cpu50, cpu99, _ = percentiles(calls.cpu)
    print(
        f"      this process's CPU per call (every thread; over gRPC the client's share too): "
        f"p50 {cpu50:.2f} ms, p99 {cpu99:.2f} ms (PostgreSQL's not included)"
    )
    print(
        f"      pool: {calls.connections_opened} connections opened during the calls, at most "
        f"{calls.most_checked_out} of {pool_size} checked out at once (a checkout waits only when all are out)"
    )


def _pauses(collections: list[tuple[int, float]], generation: int) -> str:
    pauses = sorted((ms for g, ms in collections if g == generation), reverse=True)
    if not pauses:
        return "none"
    shown = ", ".join(f"{ms:.1f}" for ms in pauses[:6])
    return f"{len(pauses)} totalling {sum(pauses):.1f} ms (longest {shown}{', ...' if len(pauses) > 6 else ''})"


def heap_line() -> str:
    """How much a full collection has to walk, and the thresholds in force."""
    return (
        f"gc thresholds {gc.get_threshold()}, {len(gc.get_objects()):,} tracked objects a full collection walks, "
        f"{gc.get_freeze_count():,} frozen (out of its sight)"
    )


_SHARED = (type, types.ModuleType, types.FunctionType, enum.Enum)


def tracked_objects_held(answer: object) -> int:
    """GC-tracked objects reachable from one answer (what one call builds and the collector then
    walks while they live); classes, modules, functions and enum members are shared, not counted."""
    seen: set[int] = set()
    stack = [answer]
    while stack:
        item = stack.pop()
        if id(item) in seen or not gc.is_tracked(item) or isinstance(item, _SHARED):
            continue
        seen.add(id(item))
        stack.extend(gc.get_referents(item))
    return len(seen)
