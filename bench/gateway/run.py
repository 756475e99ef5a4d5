"""Gateway benchmark: actions/s and latency of getCourseEdit and saveCourseChanges at N concurrent
users, and the gateway's own overhead (time not spent waiting for services).

Run by hand, never in CI:

    .venv/bin/python bench/gateway/run.py                      # starts the whole stack itself
    .venv/bin/python bench/gateway/run.py --state .devstack/state.json   # a running `make up`

Each user owns one course (5 chapters x 4 lessons). Each user loops: getCourseEdit, then a
saveCourseChanges renaming a chapter at the version it just read. Overhead comes from the
gateway's ``Server-Timing`` header (``total`` minus ``peer``, measured inside the gateway) and,
as a cross-check, client-observed latency minus ``peer`` (adds HTTP parsing and the loopback).
With a self-started stack, rate limits are raised so the benchmark measures the path, not the limiter.

Where the CPU goes: over the measured window it reads every process's CPU time from ``/proc`` and
prints CPU milliseconds per action for each part of the stack (each service, PostgreSQL, Kafka,
Redis, this driver), plus what the whole machine spent. On a shared 2-core machine throughput
moves with the neighbours' load; CPU per action moves much less, so compare that first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

_TIMING = re.compile(r"(\w+);dur=([0-9.]+)")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_label(command: str, name: str) -> str:
    """Which part of the stack a process is, from its name and command line."""
    for part in ("postgres", "tansu", "redis", "weed"):
        if name.startswith(part):
            return {"weed": "seaweedfs"}.get(part, part)
    if "lectern_common.devstack" in command:
        return "launcher"
    if "bench/gateway/run.py" in command:
        return "bench driver"
    for word in command.split():
        if word.startswith("lectern_"):
            return word.removeprefix("lectern_")
    return "other processes"


def cpu_by_process() -> dict[str, float]:
    """CPU seconds used so far by each part of the stack (live processes only), from /proc."""
    used: dict[str, float] = defaultdict(float)
    for entry in Path("/proc").iterdir() if Path("/proc/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        used[_process_label(command, name)] += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return used


def machine_cpu() -> float:
    """CPU seconds the whole machine spent busy so far (everything but idle and iowait)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return float("nan")
    return (sum(ticks) - ticks[3] - ticks[4]) / _CLOCK_TICKS


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.inside: dict[str, list[float]] = defaultdict(list)
        self.peer: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    def add(self, name: str, seconds: float, response: httpx.Response) -> None:
        timing = dict(_TIMING.findall(response.headers.get("server-timing", "")))
        self.latency[name].append(seconds * 1000)
        self.inside[name].append(float(timing.get("total", "nan")))
        self.peer[name].append(float(timing.get("peer", "nan")))
        if response.status_code != 200:
            self.errors[f"{name}:{response.json()['error']['code']}"] += 1


async def setup_user(http: httpx.AsyncClient, index: int) -> dict[str, Any]:
    token = (await http.post("/auth/dev/token", json={"userId": f"bench-{secrets.token_hex(3)}-{index}"})).json()[
        "data"
    ]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    course = (await http.post("/actions/createCourse", json={"title": f"Bench {index}"}, headers=headers)).json()[
        "data"
    ]
    operations: list[dict[str, Any]] = []
    for c in range(5):
        operations.append({"op": "addChapter", "tempId": f"c{c}", "title": f"Chapter {c}"})
        operations.extend({"op": "addLesson", "chapterId": f"c{c}", "title": f"Lesson {c}.{n}"} for n in range(4))
    response = await http.post(
        "/actions/saveCourseChanges",
        json={"courseId": course["id"], "expectedVersion": course["version"], "operations": operations},
        headers=headers,
    )
    if response.status_code != 200:
        raise RuntimeError(f"setting up user {index} failed: {response.status_code} {response.text[:500]}")
    saved = response.json()["data"]
    return {"headers": headers, "course": course["id"], "chapter": saved["idMap"]["c0"]}


async def user_loop(http: httpx.AsyncClient, user: dict[str, Any], until: float, rec: Recorder) -> None:
    n = 0
    while time.perf_counter() < until:
        started = time.perf_counter()
        response = await http.post("/actions/getCourseEdit", json={"courseId": user["course"]}, headers=user["headers"])
        rec.add("getCourseEdit", time.perf_counter() - started, response)
        if response.status_code != 200:
            continue
        version = response.json()["data"]["version"]
        n += 1
        body = {
            "courseId": user["course"],
            "expectedVersion": version,
            "operations": [{"op": "renameChapter", "chapterId": user["chapter"], "title": f"Chapter 0 ({n})"}],
        }
        started = time.perf_counter()
        response = await http.post("/actions/saveCourseChanges", json=body, headers=user["headers"])
        rec.add("saveCourseChanges", time.perf_counter() - started, response)


async def bench(base: str, users: int, seconds: float, warmup: float) -> None:
    # One client (one kept-alive connection) per user: a single shared httpx pool of 50+
    # connections cost the driver ~1.5 ms more CPU per request, taken from the stack it measures.
    clients = [
        httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=1)) for _ in range(users)
    ]
    try:
        gate = asyncio.Semaphore(5)  # setting up is not what is measured: keep it gentle

        async def gentle(index: int) -> dict[str, Any]:
            async with gate:
                return await setup_user(clients[index], index)

        people = await asyncio.gather(*(gentle(i) for i in range(users)))
        if warmup:
            until = time.perf_counter() + warmup
            await asyncio.gather(
                *(user_loop(http, p, until, Recorder()) for http, p in zip(clients, people, strict=True))
            )
        rec = Recorder()
        cpu_before, machine_before = cpu_by_process(), machine_cpu()
        began = time.perf_counter()
        await asyncio.gather(
            *(user_loop(http, p, began + seconds, rec) for http, p in zip(clients, people, strict=True))
        )
        elapsed = time.perf_counter() - began
        cpu_after, machine_after = cpu_by_process(), machine_cpu()
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))
    print(f"setup: {users} concurrent users, {seconds:.0f}s measured after {warmup:.0f}s warm-up, gateway {base}")
    print(f"machine: {os.cpu_count()} CPUs; the whole stack (every service, PostgreSQL, Redis, Kafka) shares them")
    header = (
        f"{'action':<18} {'count':>6} {'actions/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'in-gw p99':>9} "
        f"{'peer p50':>8} {'overhead p50/p99 ms':>20} {'client-peer p50/p99':>20}"
    )
    print(header)
    for name in ("getCourseEdit", "saveCourseChanges"):
        latency, inside, peer = rec.latency[name], rec.inside[name], rec.peer[name]
        overhead = [i - p for i, p in zip(inside, peer, strict=True)]
        client_overhead = [lat - p for lat, p in zip(latency, peer, strict=True)]
        print(
            f"{name:<18} {len(latency):>6} {len(latency) / elapsed:>9.1f} {percentile(latency, 0.5):>8.1f} "
            f"{percentile(latency, 0.99):>8.1f} {percentile(inside, 0.99):>9.1f} {percentile(peer, 0.5):>8.1f} "
            f"{percentile(overhead, 0.5):>9.2f}/{percentile(overhead, 0.99):<10.2f} "
            f"{percentile(client_overhead, 0.5):>9.2f}/{percentile(client_overhead, 0.99):<10.2f}"
        )
    total = sum(len(v) for v in rec.latency.values())
    share = statistics.fmean(
        (i - p) / i for name in rec.inside for i, p in zip(rec.inside[name], rec.peer[name], strict=True) if i > 0
    )
    print(f"total: {total / elapsed:.1f} actions/s; gateway's own share of in-gateway time: {share:.1%}")
    print(f"errors: {dict(rec.errors) or 'none'}")
    if total and cpu_after:
        spent = {part: cpu_after[part] - cpu_before.get(part, 0.0) for part in cpu_after}
        machine = machine_after - machine_before
        shown = sorted(((s, p) for p, s in spent.items() if s >= 0.005 * elapsed), reverse=True)
        print(
            f"CPU per action (ms, over the measured {elapsed:.0f}s): machine {machine * 1000 / total:.2f} "
            f"({machine / elapsed:.2f} of {os.cpu_count()} cores busy; includes processes that exited)"
        )
        print("  " + ", ".join(f"{part} {used * 1000 / total:.2f}" for used, part in shown))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", type=Path, help="state file of a running stack (default: start one)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    args = parser.parse_args()
    if args.state:
        from lectern_common.devstack.state import StackState

        await bench(StackState.read(args.state).urls["gateway"], args.users, args.seconds, args.warmup)
        return 0
    from lectern_common.testing.stack import LauncherProcess

    env = {
        **os.environ,
        "LECTERN_GATEWAY_RATE_LIMIT_PER_MINUTE": "10000000",
        "LECTERN_GATEWAY_RATE_LIMIT_BURST": "100000",
        "LECTERN_GATEWAY_RATE_LIMIT_MUTATIONS_PER_MINUTE": "10000000",
        "LECTERN_GATEWAY_RATE_LIMIT_MUTATIONS_BURST": "100000",
        "LECTERN_GATEWAY_LOG_LEVEL": "WARNING",
        "LECTERN_COURSE_LOG_LEVEL": "WARNING",
    }
    launcher = LauncherProcess(
        Path(tempfile.mkdtemp(prefix="lectern-bench-")),
        args=["--database-prefix", f"bench{secrets.token_hex(3)}_", "--stop-grace", "5"],
        env=env,
    )
    launcher.start()
    try:
        state = await launcher.wait_ready()
        await bench(state.urls["gateway"], args.users, args.seconds, args.warmup)
    finally:
        await launcher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
