"""Realtime fan-out benchmark: N WebSockets on 1 or 2 replicas, publish → receive latency, and
realtime CPU per delivered message read from the replicas' own CPU time.

Run by hand (never in CI), against a Redis it is given (``LECTERN_REDIS_URL``, default the local
one on 6379):

    .venv/bin/python bench/realtime/bench.py --connections 1000 10000 --replicas 1 2

What it does, per (connections, replicas):

* starts the replicas as real processes (``python -m lectern_realtime serve``) on free ports,
  sharing Redis under a fresh key prefix;
* opens the connections from ``--workers`` client processes (``websockets``); connection ``i``
  belongs to user ``u<i//2>`` (two tabs a user) and also subscribes to one course channel. With
  ``--spread channels`` (the default) a user's tabs and its course live on one replica
  (``u % replicas``; course ``u % courses``), so channels are spread over replicas and each replica
  should receive only its own channels' messages; ``--spread round-robin`` puts connection ``i`` on
  replica ``i % replicas`` (a user's two tabs on two replicas: every user channel on both);
* phase "user": publishes ``--rate`` messages a second for ``--seconds`` over HTTP
  (``POST /v1/publish``) to random user channels; phase "course": publishes to course channels
  (``connections / courses`` sockets each) as fast as ``--concurrency`` calls in flight allow;
* every message carries its phase and send time. A client counts a message for the phase it was
  published in whenever it arrives: after publishing stops the bench waits until every expected
  delivery arrived (or none arrived for ``--drain-seconds``), so late messages are in p99/max and
  in ``late`` (arrived after the phase's publishing ended), and what never came is ``lost``;
* per phase and replica, from the replica's ``/v1/connections`` and its process's CPU time
  (psutil): messages Redis sent it (``broker``), of those the ones for a channel with no local
  socket (``unrouted``), its deliveries, and realtime CPU per delivered message.

The last lines compare, per connection count, realtime CPU per delivered message with 2 replicas
against 1 (issue 17 item 3: within 1.1×). Everything (replicas, clients, publisher) shares this
machine's cores; the printed setup says how many there are.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from lectern_common.devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PUBLISH_TOKEN = "bench-publish-token"
LATENCY_SAMPLE = 300_000  # per worker and phase; count and max are always exact


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# One source address has only ip_local_port_range's ports (32768-60999 here: ~28 k) towards one
# server port; 50 k sockets need several. All of 127.0.0.0/8 is loopback on Linux.
SOURCE_ADDRESSES = 8


def source_address(i: int) -> tuple[str, int]:
    """Connection ``i``'s local address (any free port on one of SOURCE_ADDRESSES loopbacks)."""
    return f"127.0.0.{1 + i % SOURCE_ADDRESSES}", 0


def placement(i: int, replicas: int, courses: int, spread: str) -> tuple[int, str, str]:
    """Connection ``i``'s replica index, user and course."""
    user = i // 2
    if spread == "channels":
        return user % replicas, f"u{user}", f"k{user % courses}"
    return i % replicas, f"u{user}", f"k{i % courses}"


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    port: int
    publish_port: int
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.process.pid)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)


def process_cpu_seconds(pid: int) -> float:
    """A process's CPU time, all its threads: the scheduler's nanosecond count where Linux has it
    (``/proc/<pid>/task/*/schedstat``), else psutil's (whole clock ticks, 10 ms: a user phase of a
    replica is a few hundred ms of CPU, so ticks alone were a few % of noise)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
                    total += int(stat.read().split()[0])
            except FileNotFoundError:
                continue  # a thread that ended (its time is lost: the replicas' threads live on)
    except OSError:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    return total / 1e9


async def redis_cpu_seconds(redis_url: str) -> float | None:
    """Redis's own CPU (``INFO cpu``, main thread and children), None when it cannot be read."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        info = await client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    except Exception:
        return None
    finally:
        await client.aclose()


async def others_cpu_seconds(redis_url: str, client_pids: list[int]) -> dict[str, float | None]:
    """The CPU of everything but the replicas: this process (the publisher), the client workers, Redis."""
    redis = await redis_cpu_seconds(redis_url)  # first: its import is not the publisher's phase
    return {
        "publisher": time.process_time(),
        "clients": sum(process_cpu_seconds(pid) for pid in client_pids),
        "redis": redis,
    }


def start_replica(redis_url: str, prefix: str) -> Replica:
    port, publish_port = free_port(), free_port()
    env = {
        **os.environ,
        "LECTERN_REALTIME_HTTP_PORT": str(port),
        "LECTERN_REALTIME_PUBLISH_PORT": str(publish_port),
        "LECTERN_REALTIME_REDIS_URL": redis_url,
        "LECTERN_REALTIME_REDIS_PREFIX": prefix,
        "LECTERN_REALTIME_CONSUME_EVENTS": "false",
        "LECTERN_REALTIME_REALTIME_PUBLISH_TOKEN": PUBLISH_TOKEN,
        "LECTERN_REALTIME_LOG_LEVEL": "WARNING",
        "LECTERN_REALTIME_SEND_QUEUE_SIZE": "1024",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({raise_fd_limit()},) * 2);"
            "import sys; from lectern_realtime.__main__ import main; sys.exit(main())",
        ],
        env=env,
        cwd=ROOT,
    )
    return Replica(process, port, publish_port)


async def wait_ready(replicas: list[Replica]) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=1) as http:
        for replica in replicas:
            for _ in range(1200):  # a minute: imports are slow on a busy machine
                try:
                    if (await http.get(f"http://127.0.0.1:{replica.port}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"replica on {replica.port} not ready")


async def replica_counts(replica: Replica) -> dict[str, int]:
    """The replica's own counters: channels, brokerMessages, unroutedMessages, deliveries."""
    client = KeepAliveHTTP("127.0.0.1", replica.publish_port)
    try:
        status, body = await client.request(
            "GET", "/v1/connections", None, {"Authorization": f"Bearer {PUBLISH_TOKEN}"}
        )
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"/v1/connections answered {status}")
    return json.loads(body)["data"]


# --- client worker processes -----------------------------------------------------------------


def client_worker(indexes: list[int], ports: list[int], courses: int, spread: str, conn: Any) -> None:
    raise_fd_limit()
    # The client's own collector off: a worker holding thousands of sockets paused 300-500 ms in
    # full collections, and the bench counted those pauses as the server's latency (2026-12-01:
    # 10k sockets, user p99 8.18 ms / max 313 ms with it, 2.21 / 17.9 ms without; turning the
    # server's collector off instead changed nothing). A worker lives for one case only.
    gc.disable()
    import uvloop

    uvloop.run(_client_main(indexes, ports, courses, spread, conn))


class Inbox:
    """What one worker's sockets received, by the phase each message was published in."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.late: Counter[str] = Counter()
        self.max_ms: dict[str, float] = {}
        self.latencies: dict[str, list[float]] = {}
        self.ended: dict[str, float] = {}  # phase -> when its publishing ended (this clock)

    def take(self, frame: str | bytes) -> None:
        now = time.time()
        data = json.loads(frame).get("data") or {}
        phase = data.get("phase")
        if phase is None:
            return
        ms = (now - data["t"]) * 1000
        self.counts[phase] += 1
        self.latencies.setdefault(phase, []).append(ms)
        self.max_ms[phase] = max(self.max_ms.get(phase, 0.0), ms)
        if phase in self.ended and now > self.ended[phase]:
            self.late[phase] += 1

    def report(self, phase: str) -> dict[str, Any]:
        sample = self.latencies.get(phase, [])
        if len(sample) > LATENCY_SAMPLE:
            sample = random.sample(sample, LATENCY_SAMPLE)
        return {
            "count": self.counts[phase],
            "late": self.late[phase],
            "max_ms": self.max_ms.get(phase),
            "latencies": sample,
        }


async def _client_main(indexes: list[int], ports: list[int], courses: int, spread: str, pipe: Any) -> None:
    import websockets
    from lectern_common.realtime_tokens import RealtimeTokenIssuer
    from lectern_common.settings import DEV_REALTIME_PRIVATE_KEY
    from lectern_common.token_keys import SigningKey

    issuer = RealtimeTokenIssuer(SigningKey.from_pem(DEV_REALTIME_PRIVATE_KEY), ttl_seconds=3600)
    inbox = Inbox()
    sem = asyncio.Semaphore(50)

    async def open_one(i: int) -> Any:
        replica, user, course = placement(i, len(ports), courses, spread)
        token = issuer.issue(user, [course]).token
        for attempt in range(20):  # like a real client: 1013 / refused means retry with backoff
            try:
                async with sem:
                    ws = await websockets.connect(
                        f"ws://127.0.0.1:{ports[replica]}/ws?token={token}",
                        open_timeout=60,
                        ping_interval=None,
                        max_queue=None,
                        compression=None,
                        local_addr=source_address(i),
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
                inbox.take(frame)
        except websockets.ConnectionClosed:
            pass

    sockets = await asyncio.gather(*(open_one(i) for i in indexes))
    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    while (command := await loop.run_in_executor(None, pipe.recv)) != "quit":
        verb, _, phase = command.partition(":")
        if verb == "ended":
            inbox.ended[phase] = time.time()
            pipe.send("ok")
        elif verb == "count":
            pipe.send(inbox.counts[phase])
        elif verb == "report":
            pipe.send(inbox.report(phase))
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

    async def request(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, bytes]:
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n{head}"
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
            answer = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if keep:
            self._idle.append(conn)
        else:
            writer.close()
        return int(status_line.split(b" ", 2)[1]), answer

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def publish_phase(
    replicas: list[Replica],
    channels: list[str],
    phase: str,
    *,
    seconds: float,
    rate: float | None,
    concurrency: int,
    owners: dict[str, int] | None = None,
) -> tuple[Counter[str], int]:
    """Publish for ``seconds`` at ``rate`` a second (None: as fast as possible), each publish to a
    random channel through the next replica, or with ``owners`` through the one replica holding the
    channel's sockets. Answers (published per channel, failed)."""
    published: Counter[str] = Counter()
    failed = 0
    clients = [KeepAliveHTTP("127.0.0.1", r.publish_port) for r in replicas]
    headers = {"Authorization": f"Bearer {PUBLISH_TOKEN}"}
    sem = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    n = 0

    async def one(client: KeepAliveHTTP, channel: str) -> None:
        nonlocal failed
        try:
            message = {"type": "upload-progress", "operationId": "op", "data": {"progress": 50, "phase": phase}}
            message["data"]["t"] = time.time()
            body = {"channel": channel, "message": message}
            status, _ = await asyncio.wait_for(client.request("POST", "/v1/publish", body, headers), timeout=5)
            if status == 200:
                published[channel] += 1
            else:
                failed += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            failed += 1
        finally:
            sem.release()

    try:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            if rate is not None and (delay := start + n / rate - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            await sem.acquire()
            channel = random.choice(channels)
            via = owners[channel] if owners is not None and channel in owners else n % len(clients)
            task = asyncio.create_task(one(clients[via], channel))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            client.close()
    return published, failed


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Case:
    args: argparse.Namespace
    connections: int
    replicas: list[Replica]
    workers: list[tuple[mp.Process, Any]] = field(default_factory=list)

    def ask(self, command: str) -> list[Any]:
        for _, pipe in self.workers:
            pipe.send(command)
        return [pipe.recv() for _, pipe in self.workers]

    def owners(self) -> dict[str, int] | None:
        """With ``--publish-via owner``: each channel held on one replica, by that replica."""
        if self.args.publish_via != "owner":
            return None
        held: dict[str, set[int]] = {}
        for i in range(self.connections):
            replica, user, course = placement(i, len(self.replicas), self.args.courses, self.args.spread)
            held.setdefault(f"user:{user}", set()).add(replica)
            held.setdefault(f"course:{course}", set()).add(replica)
        return {channel: next(iter(on)) for channel, on in held.items() if len(on) == 1}

    async def idle(self, seconds: float) -> list[float]:
        """Each replica's CPU a second with its sockets open and nothing published: its fixed costs
        (keepalive pings, uvicorn's ticks, the pub/sub PING)."""
        before = [r.cpu_seconds() for r in self.replicas]
        await asyncio.sleep(seconds)
        return [(r.cpu_seconds() - b) / seconds for r, b in zip(self.replicas, before, strict=True)]

    def sockets_per_channel(self) -> Counter[str]:
        held: Counter[str] = Counter()
        for i in range(self.connections):
            _, user, course = placement(i, len(self.replicas), self.args.courses, self.args.spread)
            held[f"user:{user}"] += 1
            held[f"course:{course}"] += 1
        return held

    async def drain(self, phase: str, expected: int) -> None:
        """Until every expected delivery of ``phase`` arrived, or none arrived for a while."""
        last, quiet_since = -1, time.perf_counter()
        while True:
            delivered = sum(self.ask(f"count:{phase}"))
            if delivered >= expected:
                return
            if delivered != last:
                last, quiet_since = delivered, time.perf_counter()
            elif time.perf_counter() - quiet_since > self.args.drain_seconds:
                return
            await asyncio.sleep(0.2)

    async def phase(self, name: str, channels: list[str], rate: float | None, idle: list[float]) -> dict[str, Any]:
        counts_before = [await replica_counts(r) for r in self.replicas]
        client_pids = [proc.pid for proc, _ in self.workers if proc.pid is not None]
        others_before = await others_cpu_seconds(self.args.redis_url, client_pids)
        cpu_before = [r.cpu_seconds() for r in self.replicas]
        begun = time.perf_counter()
        published, failed = await publish_phase(
            self.replicas,
            channels,
            name,
            seconds=self.args.seconds,
            rate=rate,
            concurrency=self.args.concurrency,
            owners=self.owners(),
        )
        publish_seconds = time.perf_counter() - begun
        self.ask(f"ended:{name}")
        held = self.sockets_per_channel()
        expected = sum(count * held[channel] for channel, count in published.items())
        await self.drain(name, expected)
        cpu = [r.cpu_seconds() - before for r, before in zip(self.replicas, cpu_before, strict=True)]
        others_after = await others_cpu_seconds(self.args.redis_url, client_pids)
        window = time.perf_counter() - begun
        counts_after = [await replica_counts(r) for r in self.replicas]
        reports = self.ask(f"report:{name}")
        result = summarize(
            name, published, failed, expected, publish_seconds, reports, cpu, counts_before, counts_after
        )
        # the same phase less what the replicas cost doing nothing over its window (fixed costs)
        net = sum(cpu) - sum(idle) * window
        result["idle_cpu_s"] = round(sum(idle) * window, 3)
        result["net_cpu_us_per_delivery"] = round(net / result["delivered"] * 1e6, 1) if result["delivered"] else None
        # what else the phase cost: when the replicas are not the limit, one of these is
        result["others_cpu_s"] = {
            name: round(after - before, 2) if after is not None and before is not None else None
            for (name, before), after in zip(others_before.items(), others_after.values(), strict=True)
        }
        result["window_s"] = round(window, 1)
        return result


def summarize(
    name: str,
    published: Counter[str],
    failed: int,
    expected: int,
    publish_seconds: float,
    reports: list[dict[str, Any]],
    cpu: list[float],
    before: list[dict[str, int]],
    after: list[dict[str, int]],
) -> dict[str, Any]:
    latencies = [ms for report in reports for ms in report["latencies"]]
    delivered = sum(report["count"] for report in reports)
    maxima = [report["max_ms"] for report in reports if report["max_ms"] is not None]
    per_replica = [
        {
            "broker": a["brokerMessages"] - b["brokerMessages"],
            "unrouted": a["unroutedMessages"] - b["unroutedMessages"],
            "deliveries": a["deliveries"] - b["deliveries"],
            "channels": a["channels"],
            "cpu_s": round(c, 2),
        }
        for a, b, c in zip(after, before, cpu, strict=True)
    ]
    ok = sum(published.values())
    cpu_total = sum(cpu)
    return {
        "published": ok,
        "publish_failed": failed,
        "publish_per_s": round(ok / publish_seconds),
        "expected": expected,
        "delivered": delivered,
        "lost": expected - delivered,
        "late": sum(report["late"] for report in reports),
        "delivered_per_s": round(delivered / publish_seconds),
        "p50_ms": round(pct(latencies, 0.50), 2),
        "p99_ms": round(pct(latencies, 0.99), 2),
        "max_ms": round(max(maxima), 2) if maxima else None,
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
        "realtime_cpu_s": round(cpu_total, 2),
        "cpu_us_per_delivery": round(cpu_total / delivered * 1e6, 1) if delivered else None,
        "deliveries_per_cpu_s": round(delivered / cpu_total) if cpu_total else None,
        "replicas": per_replica,
    }


async def run_case(args: argparse.Namespace, connections: int, replica_count: int) -> dict[str, Any]:
    prefix = f"bench-rt:{uuid.uuid4().hex[:8]}:"
    case = Case(args, connections, [start_replica(args.redis_url, prefix) for _ in range(replica_count)])
    ports = [r.port for r in case.replicas]
    try:
        await wait_ready(case.replicas)
        started = time.perf_counter()
        ctx = mp.get_context("spawn")
        for w in range(args.workers):
            parent, child = ctx.Pipe()
            indexes = list(range(w, connections, args.workers))
            proc = ctx.Process(target=client_worker, args=(indexes, ports, args.courses, args.spread, child))
            proc.start()
            case.workers.append((proc, parent))
        for _, pipe in case.workers:
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        result: dict[str, Any] = {
            "connections": connections,
            "replicas": replica_count,
            "spread": args.spread,
            "connect_seconds": round(time.perf_counter() - started, 1),
        }
        users = [f"user:u{i}" for i in range((connections + 1) // 2)]
        courses = sorted(
            {f"course:{placement(i, replica_count, args.courses, args.spread)[2]}" for i in range(connections)}
        )
        await asyncio.sleep(args.settle_seconds)  # the connect burst's keepalive and collections settle
        idle = await case.idle(args.idle_seconds)
        result["idle_cpu_ms_per_s"] = [round(c * 1000, 2) for c in idle]
        result["user"] = await case.phase("user", users, args.rate, idle)
        result["course"] = await case.phase("course", courses, None, idle)
        return result
    finally:
        stop(case)


def stop(case: Case) -> None:
    for _proc, pipe in case.workers:
        try:
            pipe.send("quit")
        except Exception:
            pass
    for proc, _ in case.workers:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
    for replica in case.replicas:
        replica.process.terminate()
    for replica in case.replicas:
        try:
            replica.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            replica.process.kill()


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def compare(results: list[dict[str, Any]]) -> None:
    """Per connection count: realtime CPU per delivery with the most replicas against one, from the
    mean over ``--repeat`` runs of each, with each mean's spread ((max - min) / mean: how much one
    run of the same code on the same machine differs from another) and the ratio net of idle CPU."""
    for connections in sorted({r["connections"] for r in results}):
        by_replicas: dict[int, list[dict[str, Any]]] = {}
        for r in results:
            if r["connections"] == connections:
                by_replicas.setdefault(r["replicas"], []).append(r)
        if 1 not in by_replicas or len(by_replicas) < 2:
            continue
        most = max(by_replicas)
        line: dict[str, Any] = {"compare": f"{most} replicas vs 1", "connections": connections}
        for phase in ("user", "course"):
            for key, label in (("cpu_us_per_delivery", "cpu"), ("net_cpu_us_per_delivery", "net_cpu")):
                one = [r[phase][key] for r in by_replicas[1] if r[phase][key]]
                many = [r[phase][key] for r in by_replicas[most] if r[phase][key]]
                m1, mm = _mean(one), _mean(many)
                line[f"{phase}_{label}_per_delivery_ratio"] = round(mm / m1, 3) if m1 and mm else None
                if label == "cpu" and len(one) > 1:
                    line[f"{phase}_spread_1"] = round((max(one) - min(one)) / m1, 3) if m1 else None
                    line[f"{phase}_spread_{most}"] = round((max(many) - min(many)) / mm, 3) if mm else None
            line[f"{phase}_unrouted"] = sum(u["unrouted"] for r in by_replicas[most] for u in r[phase]["replicas"])
        print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--courses", type=int, default=100, help="course channels the sockets spread over")
    parser.add_argument("--spread", choices=["channels", "round-robin"], default="channels")
    parser.add_argument("--rate", type=float, default=200.0, help="user-phase publishes a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16, help="publish calls in flight (course phase)")
    parser.add_argument("--drain-seconds", type=float, default=10.0, help="give up waiting after this long quiet")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of every case (the compare lines show their spread)"
    )
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="idle CPU measured this long before the phases")
    parser.add_argument(
        "--settle-seconds", type=float, default=3.0, help="wait after connecting, before the idle window"
    )
    parser.add_argument(
        "--publish-via",
        choices=["next", "owner"],
        default="next",
        help="next: publishes round-robin over the replicas; owner: through the replica holding the channel",
    )
    parser.add_argument("--redis-url", default=os.environ.get("LECTERN_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    import uvloop

    limit = raise_fd_limit()
    print(
        f"# realtime bench: cpus={os.cpu_count()} fd_limit={limit} python={sys.version.split()[0]} "
        f"redis={args.redis_url} workers={args.workers} courses={args.courses} spread={args.spread} "
        f"rate={args.rate}/s seconds={args.seconds} concurrency={args.concurrency} "
        f"repeat={args.repeat} publish_via={args.publish_via} "
        f"loadavg_before={os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results = []
    for run in range(args.repeat):
        for connections in args.connections:
            for replicas in args.replicas:
                result = uvloop.run(run_case(args, connections, replicas))
                result["run"] = run + 1
                result["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
                print(json.dumps(result), flush=True)
                results.append(result)
    compare(results)


if __name__ == "__main__":
    main()
