"""Gateway benchmark: actions/s and latency of getCourseEdit and saveCourseChanges at N concurrent
users, and the gateway's own overhead (time not spent waiting for services).

Run by hand, never in CI:

    .venv/bin/python bench/gateway/run.py                      # starts the whole stack itself
    .venv/bin/python bench/gateway/run.py --state .devstack/state.json   # a running `make up`

Each user owns one course (5 chapters x 4 lessons). Each user loops: getCourseEdit, then a
saveCourseChanges renaming a chapter at the version it just read.

Only actions that succeeded are measured (latency, overhead, actions/s, CPU per action). A failed
action (an HTTP error, ``success: false``, a timeout or a broken connection) is counted apart, by
action and code, and printed; it never makes a figure look better.

Gateway overhead: the gateway's ``Server-Timing`` header says ``total`` (from the action's start
in the gateway to its answer being ready) and ``peer`` (time spent waiting on the services'
gRPC calls); overhead = ``total`` - ``peer``, the gateway's own time (authentication, rate
limits and idempotency in Redis, validation, JSON, the services' answers turned into JSON). As a
cross-check, client-observed latency minus ``peer`` also counts HTTP parsing, the framework and
the loopback. With a self-started stack, rate limits are raised so the benchmark measures the
path, not the limiter.

Where the CPU goes: over the measured window it reads the CPU time of every process of the
stack it started (the launcher's process tree; with ``--state``, every process) from ``/proc`` and
prints CPU milliseconds per succeeded action for each part of the stack (each service, PostgreSQL, Kafka,
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
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wire import Answer, BrokenAnswer, KeepAliveClient

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


def _processes() -> Iterator[tuple[int, int, str, list[str]]]:
    """(pid, parent pid, which part of the stack, the /proc stat fields after the name) of each live process."""
    for entry in Path("/proc").iterdir() if Path("/proc/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        yield int(entry.name), int(fields[1]), _process_label(command, name), fields


# The launcher this run started: only its process tree (and this driver) is the stack measured, so
# another stack on a shared machine (a neighbour's tests or bench) is never counted as ours.
STACK_ROOT: int | None = None


def _stack_processes() -> Iterator[tuple[int, str, list[str]]]:
    everything = list(_processes())
    if STACK_ROOT is None:
        yield from ((pid, label, fields) for pid, _, label, fields in everything)
        return
    children: dict[int, list[int]] = defaultdict(list)
    for pid, parent, _, _ in everything:
        children[parent].append(pid)
    ours, todo = {os.getpid()}, [STACK_ROOT]
    while todo:
        pid = todo.pop()
        ours.add(pid)
        todo.extend(children[pid])
    yield from ((pid, label, fields) for pid, _, label, fields in everything if pid in ours)


def process_labels() -> dict[int, str]:
    return {pid: label for pid, label, _ in _stack_processes()}


def cpu_by_process() -> dict[str, float]:
    """CPU seconds used so far by each part of the stack (live processes only), from /proc."""
    used: dict[str, float] = defaultdict(float)
    for _, label, fields in _stack_processes():
        used[label] += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
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
    """The measured (successful) actions' timings, and the failed ones counted apart."""

    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.inside: dict[str, list[float]] = defaultdict(list)
        self.peer: dict[str, list[float]] = defaultdict(list)
        self.failed: dict[str, int] = defaultdict(int)

    def add(self, name: str, seconds: float, response: Answer) -> dict[str, Any] | None:
        """The answer's ``data`` when the action succeeded (and is measured), else None (counted)."""
        failure, data = _outcome(response)
        if failure is not None:
            self.failed[f"{name}:{failure}"] += 1
            return None
        timing = dict(_TIMING.findall(response.headers.get("server-timing", "")))
        self.latency[name].append(seconds * 1000)
        self.inside[name].append(float(timing.get("total", "nan")))
        self.peer[name].append(float(timing.get("peer", "nan")))
        return data

    def add_broken(self, name: str, exc: BrokenAnswer) -> None:
        """No answer at all: a timeout or a broken connection."""
        self.failed[f"{name}:{exc.kind}"] += 1

    @property
    def measured(self) -> int:
        return sum(len(v) for v in self.latency.values())


def _outcome(response: Answer) -> tuple[str | None, dict[str, Any]]:
    """(the failure's code, or None when the action succeeded; the answer's ``data``)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}", {}
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}", {}
    if response.status_code != 200 or body.get("success") is not True:
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        return str(error.get("code") or f"HTTP {response.status_code}"), {}
    data = body.get("data")
    return None, data if isinstance(data, dict) else {}


async def setup_user(http: KeepAliveClient, index: int) -> dict[str, Any]:
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


async def _timed(http: KeepAliveClient, rec: Recorder, name: str, body: dict[str, Any], headers: Any) -> Any:
    """Run one action; its ``data`` when it succeeded, else None (counted as failed)."""
    started = time.perf_counter()
    try:
        response = await http.post(f"/actions/{name}", json=body, headers=headers)
    except BrokenAnswer as exc:
        rec.add_broken(name, exc)
        return None
    return rec.add(name, time.perf_counter() - started, response)


async def user_loop(http: KeepAliveClient, user: dict[str, Any], until: float, rec: Recorder) -> None:
    n = 0
    while time.perf_counter() < until:
        edit = await _timed(http, rec, "getCourseEdit", {"courseId": user["course"]}, user["headers"])
        if edit is None:
            await asyncio.sleep(0.05)  # a failing stack is not hammered in a tight loop
            continue
        n += 1
        body = {
            "courseId": user["course"],
            "expectedVersion": edit["version"],
            "operations": [{"op": "renameChapter", "chapterId": user["chapter"], "title": f"Chapter 0 ({n})"}],
        }
        await _timed(http, rec, "saveCourseChanges", body, user["headers"])


async def bench(base: str, users: int, seconds: float, warmup: float, profile: Path | None = None) -> None:
    # One kept-alive connection per user, over wire.KeepAliveClient: the driver shares the cores it
    # measures, and httpx cost it ~1.2-1.7 ms of CPU per action (a shared pool ~1.5 ms more).
    clients = [KeepAliveClient(base, timeout=30) for _ in range(users)]
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
        profiler = start_profiler(profile, seconds) if profile else None
        cpu_before, machine_before = cpu_by_process(), machine_cpu()
        began = time.perf_counter()
        await asyncio.gather(
            *(user_loop(http, p, began + seconds, rec) for http, p in zip(clients, people, strict=True))
        )
        elapsed = time.perf_counter() - began
        cpu_after, machine_after = cpu_by_process(), machine_cpu()
        if profiler is not None:
            await asyncio.to_thread(profiler.wait)
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))
    print(f"setup: {users} concurrent users, {seconds:.0f}s measured after {warmup:.0f}s warm-up, gateway {base}")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
        "the whole stack (every service, PostgreSQL, Redis, Kafka) shares them"
    )
    report_latency(rec, elapsed)
    if rec.measured and cpu_after:
        spent = {part: cpu_after[part] - cpu_before.get(part, 0.0) for part in cpu_after}
        report_cpu(rec.measured, elapsed, spent, machine_after - machine_before)


def report_latency(rec: Recorder, elapsed: float) -> None:
    """Per action: the measured (successful) ones' throughput, latency and gateway overhead."""
    print(
        "overhead = Server-Timing total - peer (the gateway's own time per action); "
        "client-peer = client-observed latency - peer; only succeeded actions are measured"
    )
    print(
        f"{'action':<18} {'ok':>6} {'failed':>6} {'actions/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'in-gw p99':>9} "
        f"{'peer p50':>8} {'overhead p50/p99 ms':>20} {'client-peer p50/p99':>20}"
    )
    for name in ("getCourseEdit", "saveCourseChanges"):
        latency, inside, peer = rec.latency[name], rec.inside[name], rec.peer[name]
        failed = sum(n for key, n in rec.failed.items() if key.startswith(f"{name}:"))
        overhead = [i - p for i, p in zip(inside, peer, strict=True)]
        client_overhead = [lat - p for lat, p in zip(latency, peer, strict=True)]
        print(
            f"{name:<18} {len(latency):>6} {failed:>6} {len(latency) / elapsed:>9.1f} "
            f"{percentile(latency, 0.5):>8.1f} {percentile(latency, 0.99):>8.1f} {percentile(inside, 0.99):>9.1f} "
            f"{percentile(peer, 0.5):>8.1f} "
            f"{percentile(overhead, 0.5):>9.2f}/{percentile(overhead, 0.99):<10.2f} "
            f"{percentile(client_overhead, 0.5):>9.2f}/{percentile(client_overhead, 0.99):<10.2f}"
        )
    every = [i - p for name in rec.inside for i, p in zip(rec.inside[name], rec.peer[name], strict=True)]
    ratios = [(i - p) / i for name in rec.inside for i, p in zip(rec.inside[name], rec.peer[name], strict=True) if i]
    share = statistics.fmean(ratios) if ratios else float("nan")
    print(
        f"measured: {rec.measured} succeeded actions, {rec.measured / elapsed:.1f} actions/s; gateway overhead "
        f"p50 {percentile(every, 0.5):.2f} ms over both actions; gateway's own share of in-gateway time: {share:.1%}"
    )
    print(f"failed (not measured): {sum(rec.failed.values())} {dict(sorted(rec.failed.items())) or ''}")


def report_cpu(measured: int, elapsed: float, spent: dict[str, float], machine: float) -> None:
    """CPU per succeeded action: the machine's, actions per machine CPU-second, each part's share."""
    shown = sorted(((s, p) for p, s in spent.items() if s >= 0.005 * elapsed), reverse=True)
    stack = sum(spent.values())
    print(
        f"CPU per action (ms, over the measured {elapsed:.0f}s): machine {machine * 1000 / measured:.2f} "
        f"({machine / elapsed:.2f} of {os.cpu_count()} cores busy; includes processes that exited); "
        f"{measured / machine:.1f} actions per machine CPU-second"
    )
    scope = "the stack this run started and this driver" if STACK_ROOT is not None else "every process"
    print(f"  {scope}: {stack * 1000 / measured:.2f} ({measured / stack:.1f} actions per CPU-second of it)")
    print("  " + ", ".join(f"{part} {used * 1000 / measured:.2f}" for used, part in shown))


def start_profiler(out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy (on PATH) sampling the gateway process over the measured window, collapsed stacks."""
    pids = [pid for pid, label in process_labels().items() if label == "gateway"]
    if len(pids) != 1:
        raise RuntimeError(f"expected one gateway process to profile, found {pids}")
    argv = ["py-spy", "record", "--pid", str(pids[0]), "--duration", str(int(seconds)), "--rate", "200"]
    argv += ["--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", type=Path, help="state file of a running stack (default: start one)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument(
        "--profile-gateway", type=Path, metavar="FILE", help="py-spy (on PATH) the gateway over the window: raw stacks"
    )
    args = parser.parse_args()
    if args.state:
        from lectern_common.devstack.state import StackState

        await bench(
            StackState.read(args.state).urls["gateway"], args.users, args.seconds, args.warmup, args.profile_gateway
        )
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
    global STACK_ROOT
    STACK_ROOT = launcher.pid
    try:
        state = await launcher.wait_ready()
        await bench(state.urls["gateway"], args.users, args.seconds, args.warmup, args.profile_gateway)
    finally:
        await launcher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
