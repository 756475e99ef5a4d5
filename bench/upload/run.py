"""Upload service benchmark (run by hand, never in CI).

    .venv/bin/python bench/upload/run.py [--size-mib 1024] [--concurrent 8] [--concurrent-size-mib 256]

1. One upload of ``--size-mib`` through the service (a real ``python -m lectern_upload serve``
   subprocess; the client streams one PATCH, as tus-js-client does, or tuspy with
   ``--client-chunk-mib``) versus boto3's own multipart upload (``upload_file``, default
   TransferConfig: 8 MiB parts, 10 threads) of the same bytes to the same S3, in ``--rounds``
   alternating rounds so the machine's other load hits both alike. Prints each round's
   throughputs and ratio, the median ratio (target >= 0.8), CPU seconds per GiB of the service,
   SeaweedFS and the client in each phase, and the service's peak RSS (target < 150 MiB), sampled
   every 20 ms with psutil.
2. ``--concurrent`` uploads of ``--concurrent-size-mib`` each at once (one file each), through
   the service and through ``--concurrent`` boto3 ``upload_file`` calls of the same files, in
   ``--concurrent-rounds`` alternating rounds: throughputs, the pooled ratio, CPU per GiB, peak RSS.

Progress publishing is on, as in production: a real ``python -m lectern_realtime serve`` (on the
run's Redis and Kafka) receives the service's progress POSTs, and the run prints how many it took
(the channels' seq counters in Redis) and the CPU it spent.

Infrastructure comes from the LECTERN_* variables when set (see lectern_common.devstack.infra),
otherwise it is started for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import boto3
import httpx
import psutil
import redis
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from lectern.upload.v1 import upload_pb2, upload_pb2_grpc
from lectern_common.devstack.infra import Infra
from lectern_common.devstack.ports import free_port
from lectern_common.grpc_client import call, open_channel
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.migrations import upgrade
from lectern_common.settings import DEV_INTERNAL_PRIVATE_KEY
from lectern_common.token_keys import SigningKey
from tusclient import client as tus_client

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "upload" / "migrations"
BUCKET = "lectern-upload-bench"
# The dev key pair (the bench runs in dev): upload verifies with its public half by default.
KEY = SigningKey.from_pem(DEV_INTERNAL_PRIVATE_KEY)


def make_file(path: Path, size: int) -> str:
    block = os.urandom(64 * MIB)
    digest = hashlib.sha256()
    with path.open("wb") as f:
        written = 0
        counter = 0
        while written < size:
            chunk = (counter.to_bytes(8, "big") + block[8:])[: size - written]
            f.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            counter += 1
    return digest.hexdigest()


def memory_status(pid: int) -> dict[str, int]:
    """RSS and its anonymous and file-backed shares (bytes), and the thread count, from
    /proc/<pid>/status: cheap enough to read every 20 ms, unlike smaps."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                fields[name] = int(value.split()[0]) * 1024
            elif name == "Threads":
                fields[name] = int(value)
    return fields


def memory_split(status: dict[str, int]) -> str:
    return (
        f"anon {status.get('RssAnon', 0) / MIB:.1f}, file {status.get('RssFile', 0) / MIB:.1f} MiB,"
        f" {status.get('Threads', 0)} threads"
    )


class RssSampler(threading.Thread):
    """The service's peak RSS over a phase, with the status at the peak and at the start, so
    peak-minus-start can be told apart: anonymous memory (buffers, heap) or files (libraries
    loaded late) or threads."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.start_status = memory_status(pid)
        self.peak_status = self.start_status
        self.peak = self.start_status["VmRSS"]
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                status = memory_status(self.pid)
            except OSError:
                return
            if status.get("VmRSS", 0) > self.peak:
                self.peak, self.peak_status = status["VmRSS"], status
            time.sleep(0.02)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak

    def split(self) -> str:
        return f"at the peak {memory_split(self.peak_status)}; at the start {memory_split(self.start_status)}"


class CpuMeter:
    """CPU seconds (user + system) used by the service, SeaweedFS, realtime and this client between
    start() and stop(): where a phase's cycles go on a machine they all share."""

    def __init__(self, service_pid: int, realtime_pid: int) -> None:
        me = psutil.Process()
        weed = [p for p in me.children(recursive=True) if "weed" in p.name()]
        self.processes = {
            "service": psutil.Process(service_pid),
            "SeaweedFS": weed[0] if weed else None,
            "realtime": psutil.Process(realtime_pid),
            "client": me,
        }
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    @staticmethod
    def _seconds(process: psutil.Process | None) -> float:
        if process is None:
            return float("nan")
        times = process.cpu_times()
        return float(times.user + times.system)

    def start(self) -> None:
        self._start = {name: self._seconds(p) for name, p in self.processes.items()}

    def stop(self) -> None:
        for name, process in self.processes.items():  # accumulates over start/stop pairs
            self.used[name] = self.used.get(name, 0.0) + self._seconds(process) - self._start[name]

    def line(self, gib: float) -> str:
        return ", ".join(f"{name} {seconds / gib:.2f}" for name, seconds in self.used.items())


def tus_upload(url: str, token: str, path: Path, chunk: int) -> None:
    if chunk <= 0:
        return stream_upload(url, token, path)
    client = tus_client.TusClient(url.rsplit("/", 1)[0] + "/", headers={"Authorization": f"Bearer {token}"})
    uploader = client.uploader(str(path), url=url, chunk_size=chunk)
    uploader.upload()


def stream_upload(url: str, token: str, path: Path) -> None:
    """One PATCH streamed from the file, as tus-js-client does by default (chunkSize Infinity)."""

    def body():  # type: ignore[no-untyped-def]
        with path.open("rb") as f:
            while block := f.read(MIB):
                yield block

    headers = {
        "Tus-Resumable": "1.0.0",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0",
        "Content-Length": str(path.stat().st_size),
    }
    response = httpx.patch(url, content=body(), headers=headers, timeout=600)
    assert response.status_code == 204, response.text


async def create(grpc_target: str, size: int, name: str) -> upload_pb2.CreateUploadResponse:
    channel = open_channel(grpc_target, tracing=False)
    try:
        token = InternalTokenIssuer(KEY).issue(Identity(user_id=f"bench-{secrets.token_hex(3)}"))
        return await call(
            upload_pb2_grpc.UploadServiceStub(channel).CreateUpload,
            upload_pb2.CreateUploadRequest(file_name=name, size_bytes=size, mime_type="video/mp4"),
            token=token,
            timeout=30,
        )
    finally:
        await channel.close()


def run_at_once(calls: list[Callable[[], object]]) -> float:
    """Run every call in its own thread at the same time (asyncio.to_thread's default executor has
    only cpu + 4 workers: on 2 cores, 8 "concurrent" uploads ran 6 and then 2); the wall time."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        for future in [pool.submit(c) for c in calls]:
            future.result()
    return time.perf_counter() - started


async def wait_ready(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(1200):
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode} before it was ready")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{what} not ready at {url}")


def start_realtime(work: Path, urls: object, redis_prefix: str) -> tuple[subprocess.Popen[bytes], int]:
    """The real realtime process (Redis and Kafka of the run), receiving the progress POSTs."""
    http_port, publish_port = free_port(), free_port()
    env = {
        **os.environ,
        "LECTERN_REALTIME_REDIS_URL": urls.redis_url,  # type: ignore[attr-defined]
        "LECTERN_REALTIME_KAFKA_BOOTSTRAP": urls.kafka_bootstrap,  # type: ignore[attr-defined]
        "LECTERN_REALTIME_HTTP_PORT": str(http_port),
        "LECTERN_REALTIME_PUBLISH_PORT": str(publish_port),
        "LECTERN_REALTIME_REDIS_PREFIX": redis_prefix,
        "LECTERN_REALTIME_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "lectern_realtime", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / "realtime.log").open("wb"),
    )
    return process, publish_port


def progress_published(redis_url: str, prefix: str) -> int:
    """Messages realtime published (accepted POSTs): the sum of its channels' seq counters."""
    client = redis.Redis.from_url(redis_url)
    try:
        return sum(int(client.get(key) or 0) for key in client.scan_iter(f"{prefix}seq:*"))
    finally:
        client.close()


def memory_line(pid: int) -> str:
    info = psutil.Process(pid).memory_full_info()
    return f"RSS {info.rss / MIB:.1f} MiB, USS {info.uss / MIB:.1f} MiB ({memory_split(memory_status(pid))})"


def s3_client(urls: object, pool: int) -> object:
    return boto3.client(
        "s3",
        endpoint_url=urls.s3_endpoint,  # type: ignore[attr-defined]
        aws_access_key_id=urls.s3_access_key,  # type: ignore[attr-defined]
        aws_secret_access_key=urls.s3_secret_key,  # type: ignore[attr-defined]
        region_name=urls.s3_region,  # type: ignore[attr-defined]
        config=Config(
            s3={"addressing_style": "path"},
            max_pool_connections=pool,
            request_checksum_calculation="when_required",
        ),
    )


def start_profiler(py_spy: str, pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(py_spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw"),
            *("--nonblocking", "--threads", "-o", str(out)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--concurrent-size-mib", type=int, default=256)
    parser.add_argument(
        "--concurrent-rounds", type=int, default=2, help="alternating boto3/service rounds of the concurrent uploads"
    )
    parser.add_argument(
        "--client-chunk-mib",
        type=int,
        default=0,
        help="tuspy PATCH size; 0 = one streamed PATCH (tus-js-client's default)",
    )
    parser.add_argument(
        "--py-spy",
        help="a py-spy binary: profile the service during the single upload (raw stacks in the run's directory)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating boto3/service rounds of the single upload")
    parser.add_argument("--parts-in-flight", type=int, default=None, help="the service's part_upload_concurrency")
    return parser.parse_args()


def print_pairs(rounds: list[tuple[float, float]], mib: float) -> None:
    for number, (boto_seconds, service_seconds) in enumerate(rounds, 1):
        print(
            f"  round {number}: boto3 {mib / boto_seconds:6.1f} MiB/s, service {mib / service_seconds:6.1f} MiB/s,"
            f" ratio {boto_seconds / service_seconds:.2f}"
        )
    ratios = sorted(boto / service for boto, service in rounds)
    boto_total, service_total = sum(b for b, _ in rounds), sum(v for _, v in rounds)
    print(
        f"  ratio service/boto3, all rounds pooled: {boto_total / service_total:.2f}"
        f" (boto3 {boto_total:.1f} s, service {service_total:.1f} s; median of rounds"
        f" {statistics.median(ratios):.2f}, min {ratios[0]:.2f}, max {ratios[-1]:.2f})"
    )


async def main() -> None:
    args = parse_args()
    load_before = os.getloadavg()

    work = Path(tempfile.mkdtemp(prefix="lectern-upload-bench-"))
    infra = Infra(work / "infra")
    urls = await infra.start()
    realtime: subprocess.Popen[bytes] | None = None
    concurrent_files = [work / f"c{i}.bin" for i in range(args.concurrent)]
    try:
        await infra.ensure_bucket(BUCKET)
        db = f"bench_upload_{secrets.token_hex(4)}"
        database_url = await infra.create_database(db)
        await asyncio.to_thread(upgrade, database_url, MIGRATIONS)
        redis_prefix = f"bench-upload-{secrets.token_hex(4)}:"
        realtime, publish_port = start_realtime(work, urls, redis_prefix)
        http_port, grpc_port = free_port(), free_port()
        env = {
            **os.environ,
            "LECTERN_UPLOAD_DATABASE_URL": database_url,
            "LECTERN_UPLOAD_KAFKA_BOOTSTRAP": urls.kafka_bootstrap,
            "LECTERN_UPLOAD_S3_ENDPOINT": urls.s3_endpoint,
            "LECTERN_UPLOAD_S3_ACCESS_KEY": urls.s3_access_key,
            "LECTERN_UPLOAD_S3_SECRET_KEY": urls.s3_secret_key,
            "LECTERN_UPLOAD_S3_BUCKET": BUCKET,
            "LECTERN_UPLOAD_HTTP_PORT": str(http_port),
            "LECTERN_UPLOAD_GRPC_PORT": str(grpc_port),
            "LECTERN_UPLOAD_UPLOAD_PUBLIC_URL": f"http://127.0.0.1:{http_port}/files/",
            # The real realtime's publish door (both sides use the dev publish token).
            "LECTERN_UPLOAD_REALTIME_PUBLISH_URL": f"http://127.0.0.1:{publish_port}/v1/publish",
            "LECTERN_UPLOAD_MAX_CONCURRENT_UPLOADS_PER_USER": "100",
            "LECTERN_UPLOAD_LOG_LEVEL": "WARNING",
        }
        if args.parts_in_flight:
            env["LECTERN_UPLOAD_PART_UPLOAD_CONCURRENCY"] = str(args.parts_in_flight)
        size = args.size_mib * MIB
        path = work / "big.bin"
        sha = make_file(path, size)
        small_size = args.concurrent_size_mib * MIB
        for file in concurrent_files:
            make_file(file, small_size)
        await wait_ready(f"http://127.0.0.1:{publish_port}/readyz", realtime, "realtime")

        service = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once
            [sys.executable, "-m", "lectern_upload", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(work / "service.log").open("wb"),
        )
        try:
            await wait_ready(f"http://127.0.0.1:{http_port}/readyz", service, "upload")
            # Past the start-up heap trim (process_tuning.STARTUP_TRIM_DELAY_SECONDS).
            await asyncio.sleep(5)
            idle = memory_line(service.pid)
            result = await measure(
                args,
                urls,
                service.pid,
                realtime.pid,
                path,
                concurrent_files,
                grpc_target=f"127.0.0.1:{grpc_port}",
                work=work,
            )
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(30)
        import asyncpg

        conn = await asyncpg.connect(urls.database_admin_url.rsplit("/", 1)[0] + f"/{db}")
        recorded = await conn.fetchval("SELECT checksum FROM uploads WHERE id = $1", result["last_single"])
        await conn.close()
        published = progress_published(urls.redis_url, redis_prefix)

        mib = size / MIB
        print("Lectern upload benchmark")
        print(f"  machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(
            f"  S3: {urls.s3_endpoint} (SeaweedFS), service part size "
            f"{env.get('LECTERN_UPLOAD_PART_SIZE_BYTES', 'default')}, parts in flight per upload: "
            f"{env.get('LECTERN_UPLOAD_PART_UPLOAD_CONCURRENCY', 'default')}"
        )
        print(
            "  load average (1/5/15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(
                *load_before, *os.getloadavg()
            )
        )
        client = f"tuspy {args.client_chunk_mib} MiB PATCHes" if args.client_chunk_mib else "one streamed PATCH (httpx)"
        print(f"  client: {client}; boto3 upload_file default TransferConfig")
        print(
            "  progress: on, to a real `python -m lectern_realtime serve`;"
            f" {published} progress messages published by it over the run"
        )
        print(f"  service idle (after start-up): {idle}")
        print(f"single {mib:.0f} MiB upload:")
        print_pairs(result["single"], mib)
        gib = size / (1024 * MIB) * len(result["single"])
        print(f"  CPU s per GiB, boto3 phase  : {result['cpu_boto'].line(gib)}")
        print(f"  CPU s per GiB, service phase: {result['cpu_service'].line(gib)}")
        print(f"  service peak RSS: {result['peak'] / MIB:.1f} MiB (target < 100)")
        print(f"    {result['peak_split']}")
        print(f"  checksum recorded matches source: {recorded == 'sha256:' + sha}")
        total = args.concurrent * small_size / MIB
        print(f"{args.concurrent} concurrent uploads of {args.concurrent_size_mib} MiB ({total:.0f} MiB a round):")
        print_pairs(result["concurrent"], total)
        gib = total / 1024 * len(result["concurrent"])
        print(f"  CPU s per GiB, boto3 phase  : {result['cpu_boto_n'].line(gib)}")
        print(f"  CPU s per GiB, service phase: {result['cpu_service_n'].line(gib)}")
        print(f"  service peak RSS: {result['peak_n'] / MIB:.1f} MiB")
        print(f"    {result['peak_n_split']}")
        await infra.drop_database(db)
    finally:
        if realtime is not None:
            realtime.send_signal(signal.SIGTERM)
            realtime.wait(30)
        await infra.stop()
        # The sources and S3's data are GiBs: a run keeps only its logs and profile.
        for file in (work / "big.bin", *concurrent_files):
            file.unlink(missing_ok=True)
        shutil.rmtree(work / "infra", ignore_errors=True)


async def measure(
    args: argparse.Namespace,
    urls: object,
    service_pid: int,
    realtime_pid: int,
    path: Path,
    concurrent_files: list[Path],
    *,
    grpc_target: str,
    work: Path,
) -> dict[str, object]:
    """Both phases, each in rounds alternating boto3 and the service on the same bytes and the
    same SeaweedFS, so a change in the machine's other load hits both sides alike."""
    chunk = args.client_chunk_mib * MIB
    size = args.size_mib * MIB
    s3 = s3_client(urls, 32)
    rounds: list[tuple[float, float]] = []
    cpu_boto, cpu_service = CpuMeter(service_pid, realtime_pid), CpuMeter(service_pid, realtime_pid)
    peak, peak_split = 0, ""
    operation_id = ""
    for round_number in range(args.rounds):
        cpu_boto.start()
        key = f"bench/boto3-{secrets.token_hex(4)}"
        boto_seconds = await asyncio.to_thread(
            run_at_once, [partial(s3.upload_file, str(path), BUCKET, key, Config=TransferConfig())]
        )
        cpu_boto.stop()

        created = await create(grpc_target, size, "big.bin")
        sampler = RssSampler(service_pid)
        sampler.start()
        profiler = (
            start_profiler(args.py_spy, service_pid, work / "service-profile.txt")
            if args.py_spy and round_number == 0
            else None
        )
        cpu_service.start()
        service_seconds = await asyncio.to_thread(
            run_at_once, [partial(tus_upload, created.upload_url, created.upload_token, path, chunk)]
        )
        cpu_service.stop()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
            print(f"service profile (py-spy raw stacks): {work / 'service-profile.txt'}")
        if sampler.stop() > peak:
            peak, peak_split = sampler.peak, sampler.split()
        stored = s3.head_object(Bucket=BUCKET, Key=f"uploads/{created.operation_id}")
        assert stored["ContentLength"] == size
        operation_id = created.operation_id
        rounds.append((boto_seconds, service_seconds))

    # N concurrent uploads of N files, boto3 (one client, a connection for each of its threads) and
    # the service alternating.
    s3_many = s3_client(urls, 10 * len(concurrent_files) + 4)
    concurrent: list[tuple[float, float]] = []
    cpu_boto_n, cpu_service_n = CpuMeter(service_pid, realtime_pid), CpuMeter(service_pid, realtime_pid)
    peak_n, peak_n_split = 0, ""
    small_size = args.concurrent_size_mib * MIB
    for _ in range(args.concurrent_rounds):
        tag = secrets.token_hex(4)
        boto_calls = [
            partial(s3_many.upload_file, str(f), BUCKET, f"bench/{tag}-{f.name}", Config=TransferConfig())
            for f in concurrent_files
        ]
        cpu_boto_n.start()
        boto_seconds = await asyncio.to_thread(run_at_once, boto_calls)
        cpu_boto_n.stop()

        creations = [await create(grpc_target, small_size, f.name) for f in concurrent_files]
        service_calls = [
            partial(tus_upload, c.upload_url, c.upload_token, f, chunk)
            for c, f in zip(creations, concurrent_files, strict=True)
        ]
        sampler = RssSampler(service_pid)
        sampler.start()
        cpu_service_n.start()
        service_seconds = await asyncio.to_thread(run_at_once, service_calls)
        cpu_service_n.stop()
        if sampler.stop() > peak_n:
            peak_n, peak_n_split = sampler.peak, sampler.split()
        concurrent.append((boto_seconds, service_seconds))
    return {
        "single": rounds,
        "cpu_boto": cpu_boto,
        "cpu_service": cpu_service,
        "peak": peak,
        "peak_split": peak_split,
        "last_single": operation_id,
        "concurrent": concurrent,
        "cpu_boto_n": cpu_boto_n,
        "cpu_service_n": cpu_service_n,
        "peak_n": peak_n,
        "peak_n_split": peak_n_split,
    }


if __name__ == "__main__":
    asyncio.run(main())
