"""RSS per idle WebSocket of one real realtime replica, without the full bench.

    .venv/bin/python bench/realtime/idle_sockets.py                 # N = 2,000 and 8,000
    .venv/bin/python bench/realtime/idle_sockets.py --counts 50000 --workers 4
    .venv/bin/python bench/realtime/idle_sockets.py --tracemalloc   # top allocations a socket

Starts one ``python -m lectern_realtime serve`` (as bench.py does: real process, fresh Redis key
prefix, no Kafka), measures its RSS with no socket, then opens idle authenticated sockets (each its
own user, so the connect limiter lets them all in; each holds its automatic ``user:`` channel and,
with ``--course``, one course channel; with ``--deflate`` they offer permessage-deflate, as browsers
do) from ``--workers`` separate client processes, and prints for
each count N ``(RSS at N - RSS at 0) / N`` and the marginal cost between consecutive counts (which
leaves out one-time costs such as lazily imported modules). RSS deltas barely depend on machine
load, so this is fair on a busy machine.

``--tracemalloc`` runs the replica under ``tracemalloc`` (which itself costs memory, so its RSS
figures are not the real ones) and prints the allocation sites that grew most between 0 and the
last count, in bytes a socket: what a socket is made of, as Python sees it (C-level buffers of
uvloop's transports are not traced; the RSS figure includes them).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import PUBLISH_TOKEN, free_port, raise_fd_limit, source_address, wait_ready

ROOT = Path(__file__).resolve().parents[2]

# Run inside the replica under --tracemalloc: SIGUSR1 writes a snapshot to the file the bench names.
SNAPSHOT_HOOK = """
import gc, os, signal, tracemalloc
tracemalloc.start(int(os.environ['IDLE_TRACE_FRAMES']))
def _dump(signum, frame):
    gc.collect()
    path = os.environ['IDLE_TRACE_FILE']
    tracemalloc.take_snapshot().dump(path + '.tmp')
    os.replace(path + '.tmp', path)
signal.signal(signal.SIGUSR1, _dump)
"""


def start_server(redis_url: str, trace_file: str | None, frames: int) -> tuple[subprocess.Popen[bytes], int, int]:
    port, publish_port = free_port(), free_port()
    env = {
        **os.environ,
        "LECTERN_REALTIME_HTTP_PORT": str(port),
        "LECTERN_REALTIME_PUBLISH_PORT": str(publish_port),
        "LECTERN_REALTIME_REDIS_URL": redis_url,
        "LECTERN_REALTIME_REDIS_PREFIX": f"idle-rt:{uuid.uuid4().hex[:8]}:",
        "LECTERN_REALTIME_CONSUME_EVENTS": "false",
        "LECTERN_REALTIME_REALTIME_PUBLISH_TOKEN": PUBLISH_TOKEN,
        "LECTERN_REALTIME_LOG_LEVEL": "WARNING",
    }
    hook = ""
    if trace_file is not None:
        env["IDLE_TRACE_FILE"] = trace_file
        env["IDLE_TRACE_FRAMES"] = str(frames)
        hook = SNAPSHOT_HOOK
    code = (
        f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({raise_fd_limit()},) * 2)\n{hook}\n"
        "import sys; from lectern_realtime.__main__ import main; sys.exit(main())"
    )
    process = subprocess.Popen([sys.executable, "-c", code, "serve"], env=env, cwd=ROOT)
    return process, port, publish_port


# --- client processes -------------------------------------------------------------------------


def client_worker(port: int, first: int, course: bool, deflate: bool, pipe: Any) -> None:
    raise_fd_limit()
    import uvloop

    uvloop.run(_client_main(port, first, course, deflate, pipe))


async def _client_main(port: int, first: int, course: bool, deflate: bool, pipe: Any) -> None:
    import json

    import websockets
    from lectern_common.realtime_tokens import RealtimeTokenIssuer
    from lectern_common.settings import DEV_REALTIME_PRIVATE_KEY
    from lectern_common.token_keys import SigningKey

    issuer = RealtimeTokenIssuer(SigningKey.from_pem(DEV_REALTIME_PRIVATE_KEY), ttl_seconds=3600)
    sem = asyncio.Semaphore(50)
    sockets: list[Any] = []
    next_user = first

    async def open_one(user: int) -> Any:
        token = issuer.issue(f"idle{user}", [f"k{user % 100}"]).token
        async with sem:
            # the client answers the server's protocol pings (keepalive), as a browser does; with
            # --deflate it offers permessage-deflate, as every browser does
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}/ws?token={token}",
                open_timeout=120,
                ping_interval=None,
                compression="deflate" if deflate else None,
                local_addr=source_address(user),
            )
            if json.loads(await ws.recv()).get("type") != "subscribed":
                raise RuntimeError("no user: subscription")
            if course:
                await ws.send(json.dumps({"type": "subscribe", "channel": f"course:k{user % 100}"}))
                if json.loads(await ws.recv()).get("type") != "subscribed":
                    raise RuntimeError("no course: subscription")
        return ws

    loop = asyncio.get_running_loop()
    while (command := await loop.run_in_executor(None, pipe.recv)) != "quit":
        want = int(command)  # open sockets until this worker holds ``want``
        users = range(next_user, next_user + want - len(sockets))
        next_user += len(users)
        sockets += await asyncio.gather(*(open_one(u) for u in users))
        pipe.send(len(sockets))
    for ws in sockets:
        await ws.close()


# --- the measurement --------------------------------------------------------------------------


def settled_rss(ps: psutil.Process, seconds: float = 2.0) -> int:
    """The replica's RSS once it stopped moving (its last allocations and frees done)."""
    time.sleep(seconds)
    return int(ps.memory_info().rss)


def snapshot(process: subprocess.Popen[bytes], trace_file: str) -> tracemalloc.Snapshot:
    if os.path.exists(trace_file):
        os.unlink(trace_file)
    process.send_signal(signal.SIGUSR1)
    for _ in range(600):
        if os.path.exists(trace_file):
            return tracemalloc.Snapshot.load(trace_file)
        time.sleep(0.1)
    raise RuntimeError("no tracemalloc snapshot from the replica")


def print_top(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int, top: int, key: str) -> None:
    stats = after.compare_to(before, key)
    total = sum(s.size_diff for s in stats)
    print(f"tracemalloc: {total / n:,.0f} B a socket traced in Python ({key}); top {top}:")
    for stat in stats[:top]:
        frames = stat.traceback.format(limit=4 if key == "traceback" else 1)
        where = " <- ".join(line.strip() for line in frames if not line.startswith("    "))
        print(f"  {stat.size_diff / n:8,.0f} B  {stat.count_diff / n:6.2f} blocks  {where}")


def run(args: argparse.Namespace) -> None:
    raise_fd_limit()
    trace_file = os.path.join(tempfile.mkdtemp(), "snapshot") if args.tracemalloc else None
    process, port, _publish_port = start_server(args.redis_url, trace_file, args.frames)
    ctx = mp.get_context("spawn")
    workers: list[tuple[Any, Any]] = []
    try:
        asyncio.run(wait_ready([_Ready(port)]))
        ps = psutil.Process(process.pid)
        for w in range(args.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=client_worker, args=(port, w * 1_000_000, args.course, args.deflate, child))
            proc.start()
            workers.append((proc, parent))
        base = settled_rss(ps, 3.0)
        first = snapshot(process, trace_file) if trace_file else None
        print(
            f"rss_at_0={base / 2**20:.1f} MiB tracemalloc={bool(trace_file)} course={args.course} "
            f"deflate={args.deflate}",
            flush=True,
        )
        previous_n, previous_rss = 0, base
        for n in args.counts:
            started = time.monotonic()
            share = [n // args.workers + (1 if i < n % args.workers else 0) for i in range(args.workers)]
            for (_, pipe), want in zip(workers, share, strict=True):
                pipe.send(str(want))
            held = sum(pipe.recv() for _, pipe in workers)
            rss = settled_rss(ps)
            print(
                f"sockets={held} open_s={time.monotonic() - started:.1f} rss={rss / 2**20:.1f} MiB "
                f"per_socket_kb={(rss - base) / held / 1000:.1f} "
                f"marginal_kb={(rss - previous_rss) / (held - previous_n) / 1000:.1f} "
                f"(from {previous_n}) fds={ps.num_fds()}",
                flush=True,
            )
            previous_n, previous_rss = held, rss
        if trace_file and first is not None:
            last = snapshot(process, trace_file)
            print_top(first, last, previous_n, args.top, "lineno")
            print_top(first, last, previous_n, args.top, "traceback")
    finally:
        for _, pipe in workers:
            pipe.send("quit")
        for proc, _ in workers:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


class _Ready:
    """What bench.wait_ready needs of a replica: its public port."""

    def __init__(self, port: int) -> None:
        self.port = port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--course", action="store_true", help="each socket also subscribes to a course")
    parser.add_argument("--deflate", action="store_true", help="clients offer permessage-deflate, as browsers do")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--frames", type=int, default=6, help="traceback depth under --tracemalloc")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--redis-url", default=os.environ.get("LECTERN_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    gc.disable()  # the measuring process only waits
    run(args)


if __name__ == "__main__":
    main()
