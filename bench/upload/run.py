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
2. ``--concurrent`` uploads of ``--concurrent-size-mib`` each at once through the service: total
   throughput.

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
from pathlib import Path

import boto3
import httpx
import psutil
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


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.baseline = self.process.memory_info().rss
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


class CpuMeter:
    """CPU seconds (user + system) used by the service, SeaweedFS and this client between
    start() and stop(): where a phase's cycles go on a machine all three share."""

    def __init__(self, service_pid: int) -> None:
        me = psutil.Process()
        weed = [p for p in me.children(recursive=True) if "weed" in p.name()]
        self.processes = {"service": psutil.Process(service_pid), "SeaweedFS": weed[0] if weed else None, "client": me}
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


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--concurrent-size-mib", type=int, default=256)
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
    args = parser.parse_args()
    load_before = os.getloadavg()

    work = Path(tempfile.mkdtemp(prefix="lectern-upload-bench-"))
    infra = Infra(work / "infra")
    urls = await infra.start()
    try:
        await infra.ensure_bucket(BUCKET)
        db = f"bench_upload_{secrets.token_hex(4)}"
        database_url = await infra.create_database(db)
        await asyncio.to_thread(upgrade, database_url, MIGRATIONS)
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
            "LECTERN_UPLOAD_REALTIME_PUBLISH_URL": f"http://127.0.0.1:{free_port()}/v1/publish",
            "LECTERN_UPLOAD_MAX_CONCURRENT_UPLOADS_PER_USER": "100",
            "LECTERN_UPLOAD_LOG_LEVEL": "WARNING",
        }
        if args.parts_in_flight:
            env["LECTERN_UPLOAD_PART_UPLOAD_CONCURRENCY"] = str(args.parts_in_flight)
        size = args.size_mib * MIB
        path = work / "big.bin"
        sha = make_file(path, size)
        small_size = args.concurrent_size_mib * MIB
        small = work / "small.bin"
        make_file(small, small_size)

        service = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once
            [sys.executable, "-m", "lectern_upload", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(work / "service.log").open("wb"),
        )
        try:
            async with httpx.AsyncClient() as http:
                for _ in range(1200):
                    try:
                        if (await http.get(f"http://127.0.0.1:{http_port}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
            grpc_target = f"127.0.0.1:{grpc_port}"
            chunk = args.client_chunk_mib * MIB

            # 1. boto3's own multipart upload of the same bytes.
            s3 = boto3.client(
                "s3",
                endpoint_url=urls.s3_endpoint,
                aws_access_key_id=urls.s3_access_key,
                aws_secret_access_key=urls.s3_secret_key,
                region_name=urls.s3_region,
                config=Config(
                    s3={"addressing_style": "path"},
                    max_pool_connections=32,
                    request_checksum_calculation="when_required",
                ),
            )
            # Rounds alternate boto3 and the service on the same bytes, so a change in the machine's
            # other load hits both sides alike; the median of the rounds' ratios is the result.
            rounds: list[tuple[float, float]] = []
            cpu_boto, cpu_service = CpuMeter(service.pid), CpuMeter(service.pid)
            peak = 0
            baseline = psutil.Process(service.pid).memory_info().rss
            for round_number in range(args.rounds):
                cpu_boto.start()
                started = time.perf_counter()
                await asyncio.to_thread(
                    s3.upload_file, str(path), BUCKET, f"bench/boto3-{secrets.token_hex(4)}", Config=TransferConfig()
                )
                boto_seconds = time.perf_counter() - started
                cpu_boto.stop()

                # The same bytes through the service.
                created = await create(grpc_target, size, "big.bin")
                sampler = RssSampler(service.pid)
                sampler.start()
                profiler = (
                    subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once
                        [
                            *(args.py_spy, "record", "--pid", str(service.pid), "--rate", "200", "--format", "raw"),
                            *("--nonblocking", "--threads", "-o", str(work / "service-profile.txt")),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    if args.py_spy and round_number == 0
                    else None
                )
                cpu_service.start()
                started = time.perf_counter()
                await asyncio.to_thread(tus_upload, created.upload_url, created.upload_token, path, chunk)
                service_seconds = time.perf_counter() - started
                cpu_service.stop()
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(30)
                    print(f"service profile (py-spy raw stacks): {work / 'service-profile.txt'}")
                peak = max(peak, sampler.stop())
                stored = s3.head_object(Bucket=BUCKET, Key=f"uploads/{created.operation_id}")
                assert stored["ContentLength"] == size
                rounds.append((boto_seconds, service_seconds))

            # 3. N concurrent uploads.
            creations = [await create(grpc_target, small_size, f"c{i}.bin") for i in range(args.concurrent)]
            sampler2 = RssSampler(service.pid)
            sampler2.start()
            started = time.perf_counter()
            await asyncio.gather(
                *(asyncio.to_thread(tus_upload, c.upload_url, c.upload_token, small, chunk) for c in creations)
            )
            concurrent_seconds = time.perf_counter() - started
            peak2 = sampler2.stop()
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(30)
        rows = None
        import asyncpg

        conn = await asyncpg.connect(urls.database_admin_url.rsplit("/", 1)[0] + f"/{db}")
        rows = await conn.fetchval("SELECT checksum FROM uploads WHERE id = $1", created.operation_id)
        await conn.close()

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
        print(f"single {mib:.0f} MiB upload:")
        for number, (boto_seconds, service_seconds) in enumerate(rounds, 1):
            print(
                f"  round {number}: boto3 {mib / boto_seconds:6.1f} MiB/s, service {mib / service_seconds:6.1f} MiB/s,"
                f" ratio {boto_seconds / service_seconds:.2f}"
            )
        ratios = sorted(boto / service for boto, service in rounds)
        gib = size / (1024 * MIB) * len(rounds)
        print(f"  CPU s per GiB, boto3 phase  : {cpu_boto.line(gib)}")
        print(f"  CPU s per GiB, service phase: {cpu_service.line(gib)}")
        print(
            f"  ratio service/boto3 throughput: median {statistics.median(ratios):.2f} of {len(ratios)} rounds"
            f" (min {ratios[0]:.2f}, max {ratios[-1]:.2f}; target >= 0.80)"
        )
        boto_total, service_total = sum(b for b, _ in rounds), sum(v for _, v in rounds)
        print(
            f"  all rounds together: boto3 {boto_total:.1f} s, service {service_total:.1f} s,"
            f" ratio {boto_total / service_total:.2f}"
        )
        print(f"  service peak RSS: {peak / MIB:.1f} MiB (idle {baseline / MIB:.1f} MiB; target < 150)")
        print(f"  checksum recorded matches source: {rows == 'sha256:' + sha}")
        total = args.concurrent * small_size / MIB
        print(f"{args.concurrent} concurrent uploads of {args.concurrent_size_mib} MiB:")
        print(
            f"  total {total:.0f} MiB in {concurrent_seconds:.2f} s = {total / concurrent_seconds:.1f} MiB/s"
            f"; service peak RSS {peak2 / MIB:.1f} MiB"
        )
        await infra.drop_database(db)
    finally:
        await infra.stop()
        # The sources and S3's data are GiBs: a run keeps only its logs and profile.
        for name in ("big.bin", "small.bin"):
            (work / name).unlink(missing_ok=True)
        shutil.rmtree(work / "infra", ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
