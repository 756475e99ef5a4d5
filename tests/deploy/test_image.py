"""docker/Dockerfile builds an image whose container serves, run the way the chart runs it.

Runs where podman is installed (scripts/install-image-tools.sh), and says it skipped otherwise.
It builds the course image with docker/build-images.sh (on BASE_IMAGE when set, else on
python:3.11-slim when podman has it, else on the debootstrap-made localhost/lectern-base:bookworm,
built first by docker/build-base.sh when missing: a few minutes once per machine), then runs the
chart's migration Job and Deployment container for course: its command, its environment (secrets
filled as in test_chart_env_starts_services), non-root as the image says, read-only root
filesystem, every capability dropped, no privilege escalation, /tmp a tmpfs as the chart's
emptyDir. Ready means the gRPC health check the chart's readiness probe makes answers SERVING.
The host's network stands in for the pod network, so the session's infrastructure on 127.0.0.1
is reachable. LECTERN_SKIP_IMAGE_TESTS=1 skips it (an image build takes a minute or two).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from lectern_common.devstack.ports import free_port

from .chart import REPO, of_kind, render
from .installation import container_env, secret_data
from .test_chart_env_starts_services import grpc_ready

SERVICE = "course"
IMAGE_REGISTRY = "localhost/lectern-test"
IMAGE_TAG = "test"
DEBOOTSTRAP_BASE = "localhost/lectern-base:bookworm"
# Containers on these machines need small ulimits (the defaults are refused).
RUN_FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

pytestmark = [
    pytest.mark.skipif(shutil.which("podman") is None, reason="no podman (scripts/install-image-tools.sh installs it)"),
    pytest.mark.skipif(os.environ.get("LECTERN_SKIP_IMAGE_TESTS") == "1", reason="LECTERN_SKIP_IMAGE_TESTS=1"),
]


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


def base_image() -> str:
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    for candidate in ("docker.io/library/python:3.11-slim", DEBOOTSTRAP_BASE):
        if podman("image", "exists", candidate).returncode == 0:
            return candidate
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        pytest.skip("no base image and no way to make one (docker/build-base.sh needs root and debootstrap)")
    made = subprocess.run([str(REPO / "docker" / "build-base.sh")], capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    return DEBOOTSTRAP_BASE


def container_of(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def run_flags(container: dict[str, Any], env: dict[str, str], env_file: Path) -> list[str]:
    """podman run flags for what the chart's pod and container securityContext say."""
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and security["capabilities"]["drop"] == ["ALL"]
    assert security["allowPrivilegeEscalation"] is False
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items() if "\n" not in v))
    multiline = [arg for k, v in env.items() if "\n" in v for arg in ("--env", f"{k}={v}")]
    return [
        *RUN_FLAGS,
        "--network=host",
        "--read-only",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        "--tmpfs=/tmp",
        f"--env-file={env_file}",
        *multiline,
        "--entrypoint",
        json.dumps(container["command"]),
    ]


@pytest.mark.timeout(1500)
async def test_course_image_builds_and_serves(lectern_infra: Any, lectern_database_url: Any, tmp_path: Path) -> None:
    base = base_image()
    began = time.monotonic()
    built = await asyncio.to_thread(
        subprocess.run,
        [str(REPO / "docker" / "build-images.sh"), SERVICE],
        env={
            **os.environ,
            "BASE_IMAGE": base,
            "IMAGE_REGISTRY": IMAGE_REGISTRY,
            "IMAGE_TAG": IMAGE_TAG,
            # Each run leaves its build stage behind (~450 MB): keep the last hours' as cache only.
            "PRUNE_OLDER_THAN": "3h",
        },
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    image = f"{IMAGE_REGISTRY}/{SERVICE}:{IMAGE_TAG}"
    print(f"built {image} on {base} in {time.monotonic() - began:.0f}s")
    (inspected,) = json.loads(podman("image", "inspect", image).stdout)
    assert inspected["Config"]["User"] == "10001:10001"

    run = secrets.token_hex(3)
    grpc_port = free_port()
    urls = lectern_infra.urls
    await lectern_infra.create_topics([f"chart-image-{run}.course.v1", f"chart-image-{run}.media.v1"])
    manifests = render(
        values={
            "image": {"registry": IMAGE_REGISTRY, "tag": IMAGE_TAG},
            "infrastructure": {"kafkaBootstrap": urls.kafka_bootstrap},
            "services": {
                SERVICE: {
                    "ports": {"grpc": grpc_port},
                    "env": {
                        "COURSE_TOPIC": f"chart-image-{run}.course.v1",
                        "MEDIA_TOPIC": f"chart-image-{run}.media.v1",
                        "CONSUMER_GROUP": f"chart-image-{run}-course",
                    },
                }
            },
        },
        tmp_dir=tmp_path,
    )
    data = secret_data([SERVICE], urls, {SERVICE: await lectern_database_url("chart_image_course")})

    job = container_of(of_kind(manifests, "Job")[f"lectern-{SERVICE}-migrate"])
    assert job["image"] == image
    migrate_env = container_env(job, data, cluster_dns_to_localhost=True)
    migrated = podman(
        "run", "--rm", *run_flags(job, migrate_env, tmp_path / "migrate.env"), image, *job["args"], timeout=300
    )
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]

    deployment = container_of(of_kind(manifests, "Deployment")[f"lectern-{SERVICE}"])
    serve_env = container_env(deployment, data, cluster_dns_to_localhost=True)
    assert serve_env["LECTERN_COURSE_ENVIRONMENT"] == "production"
    name = f"lectern-test-{SERVICE}-{run}"
    started = podman(
        "run", "-d", "--name", name, *run_flags(deployment, serve_env, tmp_path / "serve.env"), image,
        *deployment["args"],
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        probe = deployment["readinessProbe"]["grpc"]
        deadline = time.monotonic() + 120
        while not await grpc_ready(probe["port"], probe["service"]):
            state = json.loads(podman("inspect", name).stdout)[0]["State"]
            if not state["Running"]:
                pytest.fail(f"container exited with {state['ExitCode']}:\n{podman('logs', name).stderr[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"not SERVING after 120s:\n{podman('logs', name).stderr[-3000:]}")
            await asyncio.sleep(0.5)
        user = podman("exec", name, "id", "-u").stdout.strip()
        assert user == "10001"
        wrote = podman("exec", name, "sh", "-c", "touch /app/probe")
        assert wrote.returncode != 0 and "Read-only file system" in wrote.stderr
    finally:
        podman("stop", "-t", "10", name, timeout=60)
        podman("rm", "-f", name, timeout=60)
