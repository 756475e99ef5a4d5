"""The chart's environment is enough to start each service: what a cluster would find out first.

The test renders the chart, plays the SRE who creates the Secrets the README lists (generated
Ed25519 keys, 32+ byte secrets, databases, the S3 keys) and runs each migration Job's and then each
Deployment's container command as a process with exactly the rendered environment, secret
references filled in. Every service must then answer its rendered readiness probe, with
``environment: production`` as every pod has it.

What a process here cannot have is replaced, and only that: cluster DNS (``<release>-<service>``
Service names become 127.0.0.1), the image's /app/migrations (the service's migrations/ directory
it is copied from) and the image's PATH and ENV lines (the workspace virtualenv's python). Ports and
infrastructure come in through values, as an installation sets them: free ports, and the session's
PostgreSQL, Redis, Kafka and S3 from the ``lectern_infra`` fixture. Topics, consumer groups and Redis
prefixes are this test's own (through each service's ``env`` value), so nothing here consumes or
publishes what the end-to-end stack on the same servers does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lectern_common.devstack.ports import free_port

from .chart import RELEASE, REPO, of_kind, render, service_names
from .installation import SecretData, container_env
from .installation import secret_data as installation_secrets

READY_TIMEOUT = 90.0
IMAGE_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
"""docker/Dockerfile's ENV line (PATH aside: the workspace virtualenv stands for /app/.venv)."""


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def process_env(container: dict[str, Any], data: SecretData, service: str) -> dict[str, str]:
    """The container's env as the kubelet would hand it over, plus the image's ENV."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/tmp", **IMAGE_ENV}
    env.update(container_env(container, data, cluster_dns_to_localhost=True))
    migrations = env.get(f"LECTERN_{service.upper()}_MIGRATIONS_DIR")
    if migrations is not None:
        assert migrations == "/app/migrations"
        env[f"LECTERN_{service.upper()}_MIGRATIONS_DIR"] = str(REPO / "services" / service / "migrations")
    return env


def argv(container: dict[str, Any]) -> list[str]:
    command = [*container["command"], *container.get("args", [])]
    assert command[0] == "python", command
    return [sys.executable, *command[1:]]


async def http_ready(port: int, path: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            return (await client.get(f"http://127.0.0.1:{port}{path}")).status_code == 200
    except httpx.HTTPError:
        return False


async def grpc_ready(port: int, service: str) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=2.0
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


async def probe_passes(probe: dict[str, Any], ports: dict[str, int]) -> bool:
    if "httpGet" in probe:
        port = probe["httpGet"]["port"]
        return await http_ready(ports[port] if isinstance(port, str) else port, probe["httpGet"]["path"])
    if "grpc" in probe:
        return await grpc_ready(probe["grpc"]["port"], probe["grpc"].get("service", ""))
    raise AssertionError(f"unexpected readiness probe {probe}")


def spawn(service: str, command: list[str], env: dict[str, str], cwd: Path) -> Started:
    log = cwd / f"{service}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Started(service, process, log)


@contextlib.asynccontextmanager
async def running(started: list[Started]) -> AsyncIterator[list[Started]]:
    try:
        yield started
    finally:
        for s in started:
            if s.process.poll() is None:
                s.process.send_signal(signal.SIGTERM)
        for s in started:
            try:
                await asyncio.to_thread(s.process.wait, 20)
            except subprocess.TimeoutExpired:
                os.killpg(s.process.pid, signal.SIGKILL)
                s.process.wait(timeout=10)


async def test_the_rendered_env_starts_every_service_in_production(
    lectern_infra: Any, lectern_database_url: Any, tmp_path: Path
) -> None:
    began = time.monotonic()
    urls = lectern_infra.urls
    run = secrets.token_hex(3)
    bucket = f"chart-env-{run}"
    topics = {kind: f"chart-env-{run}.{kind}.v1" for kind in ("course", "media", "upload", "engagement")}
    await lectern_infra.ensure_bucket(bucket)
    await lectern_infra.create_topics(topics.values())

    def own(*kinds: str) -> dict[str, str]:
        return {f"{kind.upper()}_TOPIC": topics[kind] for kind in kinds}

    ports = {
        "gateway": {"http": free_port()},
        "course": {"grpc": free_port()},
        "media": {"grpc": free_port()},
        "analytics": {"grpc": free_port()},
        "upload": {"http": free_port(), "grpc": free_port()},
        "realtime": {"http": free_port(), "publish": free_port()},
    }
    assert set(ports) == set(service_names()), "a new service needs its ports here"
    own_env = {
        "gateway": {"REDIS_PREFIX": f"chart-env-{run}:gateway:"},
        "course": {**own("course", "media"), "CONSUMER_GROUP": f"chart-env-{run}-course"},
        "media": {**own("course", "media", "upload"), "CONSUMER_GROUP": f"chart-env-{run}-media"},
        "analytics": {
            **own("course", "media", "engagement"),
            "CONSUMER_GROUP": f"chart-env-{run}-analytics",
            "CACHE_KEY_PREFIX": f"chart-env-{run}:analytics",
        },
        "upload": {**own("media"), "CONSUMER_GROUP": f"chart-env-{run}-upload"},
        "realtime": {
            **own("course", "media", "upload"),
            "CONSUMER_GROUP": f"chart-env-{run}-realtime",
            "REDIS_PREFIX": f"chart-env-{run}:rt:",
        },
    }
    values = {
        "publicUrl": f"http://127.0.0.1:{ports['gateway']['http']}",
        # The issuer is a third party this test does not run; nothing here signs a user in.
        "oidc": {
            "issuer": "https://id.example.test/realms/lectern",
            "audience": "lectern",
            "jwksUrl": "https://id.example.test/realms/lectern/protocol/openid-connect/certs",
        },
        "infrastructure": {
            "kafkaBootstrap": urls.kafka_bootstrap,
            "s3": {"endpoint": urls.s3_endpoint, "region": urls.s3_region, "bucket": bucket},
        },
        "services": {name: {"ports": ports[name], "env": own_env[name]} for name in ports},
    }
    print(f"infra ready {time.monotonic() - began:.1f}s")
    manifests = render(values=values, tmp_dir=tmp_path)

    # The Secrets, as README.md tells an SRE to create them.
    databases = {}
    for job in of_kind(manifests, "Job").values():
        name = job["metadata"]["name"].removeprefix(f"{RELEASE}-").removesuffix("-migrate")
        databases[name] = await lectern_database_url(f"chart_env_{name}")
    secret_data = installation_secrets(list(ports), urls, databases)

    # Each migration Job, to completion (at once: they touch different databases).
    async def migrate(job_name: str, job: dict[str, Any]) -> None:
        (container,) = job["spec"]["template"]["spec"]["containers"]
        service = job_name.removeprefix(f"{RELEASE}-").removesuffix("-migrate")
        done = await asyncio.to_thread(
            subprocess.run,
            argv(container),
            env=process_env(container, secret_data, service),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"{job_name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    await asyncio.gather(*(migrate(name, job) for name, job in of_kind(manifests, "Job").items()))
    print(f"migrated {time.monotonic() - began:.1f}s")
    # Every Deployment at once (the gateway reports its peers), each until its readiness probe passes.
    deployments = of_kind(manifests, "Deployment")
    started: list[Started] = []
    async with running(started):
        for deployment_name, deployment in deployments.items():
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            service = deployment_name.removeprefix(f"{RELEASE}-")
            env = process_env(container, secret_data, service)
            assert env[f"LECTERN_{service.upper()}_ENVIRONMENT"] == "production"
            started.append(spawn(service, argv(container), env, tmp_path))

        waiting = {s.name: s for s in started}
        deadline = time.monotonic() + READY_TIMEOUT
        while waiting:
            for name, s in list(waiting.items()):
                if s.process.poll() is not None:
                    pytest.fail(f"{name} exited with {s.process.returncode} before it was ready:\n{s.tail()}")
                (container,) = deployments[f"{RELEASE}-{name}"]["spec"]["template"]["spec"]["containers"]
                named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
                if await probe_passes(container["readinessProbe"], named_ports):
                    print(f"{name} ready {time.monotonic() - began:.1f}s")
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                details = "\n\n".join(f"== {name}\n{s.tail()}" for name, s in waiting.items())
                pytest.fail(f"not ready after {READY_TIMEOUT:.0f}s: {sorted(waiting)}\n{details}")
            await asyncio.sleep(0.3)

        # Each one is listening on exactly the ports the chart declares for it.
        for s in started:
            (container,) = deployments[f"{RELEASE}-{s.name}"]["spec"]["template"]["spec"]["containers"]
            assert {p["containerPort"] for p in container["ports"]} == set(ports[s.name].values())
            assert s.process.poll() is None, f"{s.name} stopped:\n{s.tail()}"
