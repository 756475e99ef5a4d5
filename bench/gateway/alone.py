"""The gateway alone: its CPU per action and its overhead, without the rest of the stack's noise.

    .venv/bin/python bench/gateway/alone.py                        # this checkout's gateway
    .venv/bin/python bench/gateway/alone.py --against cb09b6e      # and another commit's, side by side
    .venv/bin/python bench/gateway/alone.py --profile /tmp/gw.txt  # py-spy (on PATH) raw stacks

``python -m lectern_gateway serve`` runs as in the stack (uvloop, tracing in-process, rate limits
on, raised out of the way) against a private ``redis-server`` and a canned course gRPC server
(``canned_course.py``: answers in microseconds), so what is measured is the gateway: its process's
CPU time (``/proc``) per succeeded action over the window, and its overhead (``Server-Timing``
total - peer). Users loop getCourseEdit + saveCourseChanges (a rename) as in ``run.py``. With
``--against REV`` that commit's gateway and lectern-common sources (``git archive``, put first on
``PYTHONPATH``) run in turn with this checkout's, ``--rounds`` times, so both see the same
machine. Failed actions are counted apart, never measured. On a shared machine compare the CPU
per action of runs made side by side; the overhead there moves with the neighbours' load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from canned_course import CHAPTER_ID
from lectern_common.devstack.ports import free_port
from wire import BrokenAnswer, KeepAliveClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")
_TIMING = re.compile(r"(\w+);dur=([0-9.]+)")
_ACTIONS = (
    ("getCourseEdit", {"courseId": "course-1"}),
    (
        "saveCourseChanges",
        {
            "courseId": "course-1",
            "expectedVersion": 7,
            "operations": [{"op": "renameChapter", "chapterId": CHAPTER_ID, "title": "Renamed"}],
        },
    ),
)


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def until_listening(port: int) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise RuntimeError(f"nothing listens on {port}")


def gateway_env(port: int, redis_port: int, course_port: int, pythonpath: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LECTERN_")}
    settings = {
        "HTTP_PORT": str(port),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "COURSE_GRPC_TARGET": f"127.0.0.1:{course_port}",
        "DEV_AUTH": "true",
        "LOG_LEVEL": "WARNING",
    }
    for bucket in ("RATE_LIMIT", "RATE_LIMIT_MUTATIONS", "RATE_LIMIT_PER_CLIENT", "DEV_TOKEN"):
        settings[f"{bucket}_PER_MINUTE"] = "10000000"
        settings[f"{bucket}_BURST"] = "100000"
    env.update({f"LECTERN_GATEWAY_{key}": value for key, value in settings.items()})
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


class Tally:
    def __init__(self) -> None:
        self.overhead: list[float] = []
        self.failed: dict[str, int] = {}

    def add(self, name: str, answer: Any) -> None:
        if answer.status_code != 200 or answer.json().get("success") is not True:
            key = f"{name}:{answer.status_code}"
            self.failed[key] = self.failed.get(key, 0) + 1
            return
        timing = dict(_TIMING.findall(answer.headers.get("server-timing", "")))
        self.overhead.append(float(timing["total"]) - float(timing["peer"]))


async def user(client: KeepAliveClient, headers: dict[str, str], until: float, tally: Tally | None) -> None:
    while time.perf_counter() < until:
        for name, body in _ACTIONS:
            try:
                answer = await client.post(f"/actions/{name}", json=body, headers=headers)
            except BrokenAnswer as exc:
                if tally is not None:
                    tally.failed[f"{name}:{exc.kind}"] = tally.failed.get(f"{name}:{exc.kind}", 0) + 1
                continue
            if tally is not None:
                tally.add(name, answer)


async def measure(label: str, env: dict[str, str], port: int, args: argparse.Namespace) -> None:
    gateway = start([sys.executable, "-m", "lectern_gateway", "serve"], env)
    clients: list[KeepAliveClient] = []
    try:
        await until_listening(port)
        clients = [KeepAliveClient(f"http://127.0.0.1:{port}") for _ in range(args.users)]
        tokens = [
            (await c.post("/auth/dev/token", json={"userId": f"alone-{i}"})).json() for i, c in enumerate(clients)
        ]
        people = [{"Authorization": f"Bearer {t['data']['token']}"} for t in tokens]
        warm = time.perf_counter() + args.warmup
        await asyncio.gather(*(user(c, h, warm, None) for c, h in zip(clients, people, strict=True)))
        profiler = _profiler(args.profile, gateway.pid, args.seconds) if args.profile and label == "this" else None
        tally, cpu_before, began = Tally(), process_cpu(gateway.pid), time.perf_counter()
        await asyncio.gather(*(user(c, h, began + args.seconds, tally) for c, h in zip(clients, people, strict=True)))
        elapsed, used = time.perf_counter() - began, process_cpu(gateway.pid) - cpu_before
        if profiler is not None:
            await asyncio.to_thread(profiler.wait)
        _report(label, tally, elapsed, used)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
        gateway.terminate()
        gateway.wait(15)


def _report(label: str, tally: Tally, elapsed: float, used: float) -> None:
    done = sorted(tally.overhead)
    if not done:
        print(f"{label:<10} no action succeeded; failed {tally.failed}")
        return
    print(
        f"{label:<10} {len(done):>6} ok {sum(tally.failed.values()):>4} failed {len(done) / elapsed:>7.1f} actions/s  "
        f"gateway CPU {used * 1000 / len(done):.3f} ms/action ({len(done) / used:.0f} per gateway CPU-second)  "
        f"overhead p50 {done[len(done) // 2]:.2f} p99 {done[int(len(done) * 0.99)]:.2f} ms  "
        f"load {os.getloadavg()[0]:.1f}" + (f"  failed {tally.failed}" if tally.failed else ""),
        flush=True,
    )


def start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)


def _profiler(out: Path, pid: int, seconds: float) -> subprocess.Popen[bytes]:
    argv = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250"]
    argv += ["--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sources_of(rev: str, into: Path) -> str:
    """``rev``'s gateway and lectern-common sources under ``into``, as a PYTHONPATH."""
    paths = ["services/gateway/src", "libs/lectern-common/src"]
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *paths], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return os.pathsep.join(str(into / path) for path in paths)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--against", metavar="REV", help="also run this commit's gateway, in turn with this one")
    parser.add_argument("--profile", type=Path, metavar="FILE", help="py-spy this checkout's gateway: raw stacks")
    args = parser.parse_args()
    redis_port, course_port = free_port(), free_port()
    redis = start(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"])
    course = start([sys.executable, str(HERE / "canned_course.py"), str(course_port)])
    with tempfile.TemporaryDirectory(prefix="gateway-alone-") as scratch:
        try:
            await until_listening(redis_port)
            await until_listening(course_port)
            other = sources_of(args.against, Path(scratch)) if args.against else None
            print(f"{args.users} users, {args.seconds:.0f}s per run after {args.warmup:.0f}s, {os.cpu_count()} CPUs")
            for _ in range(args.rounds):
                if other is not None:
                    port = free_port()
                    await measure(args.against, gateway_env(port, redis_port, course_port, other), port, args)
                port = free_port()
                await measure("this", gateway_env(port, redis_port, course_port, None), port, args)
        finally:
            for process in (course, redis):
                process.terminate()
                process.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
