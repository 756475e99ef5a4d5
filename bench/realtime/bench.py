"""Realtime fan-out benchmark: N WebSockets on 1 or 2 replicas, publish → receive latency.

Run by hand (never in CI), against a Redis it is given (``LECTERN_REDIS_URL``, default the local
one on 6379):

    .venv/bin/python bench/realtime/bench.py --connections 1000 10000 --replicas 1 2

What it does, per (connections, replicas):

* starts the replicas as real processes (``python -m lectern_realtime serve``) on free ports,
  sharing Redis under a fresh key prefix;
* opens the connections from ``--workers`` client processes (``websockets``), spread round-robin
  over the replicas; connection ``i`` belongs to user ``u<i//2>`` (two tabs a user) and also
  subscribes to ``course:k<i % courses>``;
* phase "user": publishes ``--rate`` messages a second for ``--seconds`` over HTTP
  (``POST /v1/publish``) to random user channels, each stamped with its send time; every client
  records ``receive time - send time``: p50, p99, max;
* phase "course": publishes to course channels (``connections / courses`` sockets each) as fast as
  ``--concurrency`` HTTP calls in flight allow, and counts delivered messages a second.

Everything (replicas, clients, publisher) shares this machine's cores; the printed setup says how
many there are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PUBLISH_TOKEN = "bench-publish-token"


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# WebSocket port -> the replica's internal POST /v1/publish port.
PUBLISH_PORTS: dict[int, int] = {}


def start_replica(redis_url: str, prefix: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "LECTERN_REALTIME_HTTP_PORT": str(port),
        "LECTERN_REALTIME_PUBLISH_PORT": str(PUBLISH_PORTS.setdefault(port, free_port())),
        "LECTERN_REALTIME_REDIS_URL": redis_url,
        "LECTERN_REALTIME_REDIS_PREFIX": prefix,
        "LECTERN_REALTIME_CONSUME_EVENTS": "false",
        "LECTERN_REALTIME_REALTIME_PUBLISH_TOKEN": PUBLISH_TOKEN,
        "LECTERN_REALTIME_LOG_LEVEL": "WARNING",
        "LECTERN_REALTIME_SEND_QUEUE_SIZE": "1024",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({raise_fd_limit()},) * 2);"
            "import sys; from lectern_realtime.__main__ import main; sys.exit(main(['serve']))",
        ],
        env=env,
        cwd=ROOT,
    )
    return proc, port


async def wait_ready(ports: list[int]) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=1) as http:
        for port in ports:
            for _ in range(1200):  # a minute: imports are slow on a busy machine
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"replica on {port} not ready")


# --- client worker processes -----------------------------------------------------------------


def client_worker(index: list[int], ports: list[int], courses: int, conn: Any) -> None:
    raise_fd_limit()
    import uvloop

    uvloop.run(_client_main(index, ports, courses, conn))


async def _client_main(indexes: list[int], ports: list[int], courses: int, pipe: Any) -> None:
    import websockets
    from lectern_common.realtime_tokens import RealtimeTokenIssuer
    from lectern_common.settings import DEV_REALTIME_PRIVATE_KEY
    from lectern_common.token_keys import SigningKey

    issuer = RealtimeTokenIssuer(SigningKey.from_pem(DEV_REALTIME_PRIVATE_KEY), ttl_seconds=3600)
    latencies: dict[str, list[float]] = {"user": [], "course": []}
    counts = {"user": 0, "course": 0}
    phase = {"name": "idle"}
    sockets = []
    sem = asyncio.Semaphore(50)

    async def open_one(i: int) -> Any:
        user, course = f"u{i // 2}", f"k{i % courses}"
        token = issuer.issue(user, [course]).token
        for attempt in range(20):  # like a real client: 1013 / refused means retry with backoff
            try:
                async with sem:
                    ws = await websockets.connect(
                        f"ws://127.0.0.1:{ports[i % len(ports)]}/ws?token={token}",
                        open_timeout=60,
                        ping_interval=None,
                        max_queue=None,
                        compression=None,
                    )
                    await ws.recv()  # subscribed to the user channel
                    await ws.send(json.dumps({"type": "subscribe", "channel": f"course:{course}"}))
                    answer = json.loads(await ws.recv())
                    if answer.get("type") != "subscribed":
                        await ws.close()
                        raise ConnectionError(answer)
                return ws
            except (OSError, TimeoutError, ConnectionError, websockets.WebSocketException):
                await asyncio.sleep(min(0.1 * 2**attempt, 5) * random.random())
        raise RuntimeError(f"connection {i} failed 20 times")

    async def reader(ws: Any) -> None:
        try:
            async for frame in ws:
                now = time.time()
                message = json.loads(frame)
                name = phase["name"]
                if name in counts and "t" in message.get("data", {}):
                    counts[name] += 1
                    latencies[name].append((now - message["data"]["t"]) * 1000)
        except websockets.ConnectionClosed:
            pass

    sockets = await asyncio.gather(*(open_one(i) for i in indexes))
    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command == "quit":
            break
        if command.startswith("phase:"):
            phase["name"] = command.split(":", 1)[1]
            pipe.send("ok")
        elif command == "report":
            sample = {k: v if len(v) <= 300_000 else random.sample(v, 300_000) for k, v in latencies.items()}
            pipe.send({"counts": counts, "latencies": sample})
    for ws in sockets:
        await ws.close()
    for task in readers:
        task.cancel()


# --- publisher -------------------------------------------------------------------------------


class KeepAliveHTTP:
    """A minimal HTTP/1.1 client with a pool of kept-alive connections, one request at a time each.

    Like a real service's client, it reuses its connections; unlike httpx in this venv (whose
    httpcore retries ``import sniffio`` on every request, ~5 ms of CPU each), it costs a few tens of
    microseconds a request, so the publisher is not what the latency measures.
    """

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post_json(self, path: str, body: Any, headers: dict[str, str]) -> int:
        data = json.dumps(body, separators=(",", ":")).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n{head}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode() + data
        conn = self._idle.pop() if self._idle else await asyncio.open_connection(self._host, self._port)
        reader, writer = conn
        try:
            writer.write(request)
            status_line = await reader.readuntil(b"\r\n")
            length = 0
            keep = True
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    keep = False
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if keep:
            self._idle.append(conn)
        else:
            writer.close()
        return int(status_line.split(b" ", 2)[1])

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def publish_phase(
    ports: list[int], channels: list[str], *, seconds: float, rate: float | None, concurrency: int
) -> tuple[int, int]:
    """Publish for ``seconds`` at ``rate`` a second (None: as fast as possible). Answers (ok, failed)."""
    ok = failed = 0
    clients = {port: KeepAliveHTTP("127.0.0.1", PUBLISH_PORTS[port]) for port in ports}
    headers = {"Authorization": f"Bearer {PUBLISH_TOKEN}"}
    sem = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    n = 0

    async def one(port: int, channel: str) -> None:
        nonlocal ok, failed
        try:
            body = {
                "channel": channel,
                "message": {
                    "type": "upload-progress",
                    "operationId": "op",
                    "data": {"progress": 50, "t": time.time()},
                },
            }
            status = await asyncio.wait_for(clients[port].post_json("/v1/publish", body, headers), timeout=5)
            if status == 200:
                ok += 1
            else:
                failed += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            failed += 1
        finally:
            sem.release()

    try:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            if rate is not None:
                due = start + n / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await sem.acquire()
            task = asyncio.create_task(one(ports[n % len(ports)], random.choice(channels)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)
    finally:
        for client in clients.values():
            client.close()
    return ok, failed


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_case(args: argparse.Namespace, connections: int, replicas: int) -> dict[str, Any]:
    prefix = f"bench-rt:{uuid.uuid4().hex[:8]}:"
    procs = [start_replica(args.redis_url, prefix) for _ in range(replicas)]
    ports = [port for _, port in procs]
    workers: list[tuple[mp.Process, Any]] = []
    try:
        await wait_ready(ports)
        started = time.perf_counter()
        ctx = mp.get_context("spawn")
        for w in range(args.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=client_worker, args=(list(range(w, connections, args.workers)), ports, args.courses, child)
            )
            proc.start()
            workers.append((proc, parent))
        for _, pipe in workers:
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        connect_seconds = time.perf_counter() - started
        result: dict[str, Any] = {
            "connections": connections,
            "replicas": replicas,
            "connect_seconds": round(connect_seconds, 1),
        }
        users = [f"user:u{i}" for i in range((connections + 1) // 2)]
        courses = [f"course:k{i}" for i in range(min(args.courses, connections))]
        for name, channels, rate in (("user", users, args.rate), ("course", courses, None)):
            for _, pipe in workers:
                pipe.send(f"phase:{name}")
                pipe.recv()
            begun = time.perf_counter()
            ok, failed = await publish_phase(
                ports, channels, seconds=args.seconds, rate=rate, concurrency=args.concurrency
            )
            await asyncio.sleep(1.0)  # let the last messages land
            elapsed = time.perf_counter() - begun - 1.0
            for _, pipe in workers:
                pipe.send("phase:idle")
                pipe.recv()
            lat: list[float] = []
            delivered = 0
            for _, pipe in workers:
                pipe.send("report")
                report = pipe.recv()
                lat += report["latencies"][name]
                delivered += report["counts"][name]
            expected_per_msg = 2 if name == "user" else connections / len(courses)
            result[name] = {
                "published": ok,
                "publish_failed": failed,
                "publish_per_s": round(ok / elapsed),
                "delivered": delivered,
                "expected": int(ok * expected_per_msg),
                "delivered_per_s": round(delivered / elapsed),
                "p50_ms": round(pct(lat, 0.50), 2),
                "p99_ms": round(pct(lat, 0.99), 2),
                "max_ms": round(max(lat), 2) if lat else None,
                "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
            }
        return result
    finally:
        for _proc, pipe in workers:
            try:
                pipe.send("quit")
            except Exception:
                pass
        for proc, _ in workers:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--courses", type=int, default=100, help="course channels the sockets spread over")
    parser.add_argument("--rate", type=float, default=200.0, help="user-phase publishes a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16, help="publish calls in flight (course phase)")
    parser.add_argument("--redis-url", default=os.environ.get("LECTERN_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    import uvloop

    limit = raise_fd_limit()
    print(
        f"# realtime bench: cpus={os.cpu_count()} fd_limit={limit} python={sys.version.split()[0]} "
        f"redis={args.redis_url} workers={args.workers} courses={args.courses} rate={args.rate}/s "
        f"seconds={args.seconds} concurrency={args.concurrency} loadavg_before={os.getloadavg()[0]:.2f}",
        flush=True,
    )
    for connections in args.connections:
        for replicas in args.replicas:
            result = uvloop.run(run_case(args, connections, replicas))
            result["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
