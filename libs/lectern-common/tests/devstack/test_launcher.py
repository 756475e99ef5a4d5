"""The launcher brings a service up, restarts it when it dies, and leaves nothing behind on stop.

Each test runs the real ``python -m lectern_common.devstack up`` with its own infrastructure (no
``LECTERN_*`` URLs), so the leak checks cover PostgreSQL, Redis, Tansu and SeaweedFS too, plus
the fake service of :mod:`lectern_fake_service` injected with ``--spec``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from lectern_common.devstack.infra import (
    ENV_DATABASE_URL,
    ENV_KAFKA_BOOTSTRAP,
    ENV_REDIS_URL,
    ENV_S3_ENDPOINT,
)
from lectern_common.devstack.state import StackState
from lectern_common.testing.stack import LauncherProcess

HERE = Path(__file__).parent


def launcher_env() -> dict[str, str]:
    """This environment minus infrastructure URLs (the launcher must start its own), plus
    this directory on the import path so ``--spec lectern_fake_service:SPEC`` resolves."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {ENV_DATABASE_URL, ENV_REDIS_URL, ENV_KAFKA_BOOTSTRAP, ENV_S3_ENDPOINT}
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
async def launcher(tmp_path: Path) -> AsyncIterator[LauncherProcess]:
    process = LauncherProcess(
        tmp_path / "run",
        args=["--spec", "lectern_fake_service:SPEC", "--only", "fake", "--replicas", "fake=2", "--stop-grace", "5"],
        env=launcher_env(),
    )
    process.start()
    try:
        yield process
    finally:
        await process.stop(signal.SIGTERM, timeout=30)


async def fetch_fake(port: int) -> dict[str, object]:
    def get() -> dict[str, object]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return dict(json.loads(response.read()))

    return await asyncio.to_thread(get)


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def survivors(processes: list[psutil.Process]) -> list[str]:
    """Processes still running; ``is_running`` compares creation times, so reused pids don't count."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return alive


async def test_service_gets_settings_from_the_launcher(launcher: LauncherProcess) -> None:
    state = await launcher.wait_ready(timeout=180)
    fake = state.services["fake"]
    answer = await fetch_fake(fake.http_port)
    env = answer["env"]
    assert isinstance(env, dict)

    assert answer["pid"] == fake.pid
    assert env["LECTERN_FAKE_GRPC_PORT"] == str(fake.grpc_port)
    assert env["LECTERN_FAKE_DATABASE_URL"] == fake.database_url
    assert env["LECTERN_FAKE_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["LECTERN_FAKE_DATABASE_URL"].endswith("/fake")
    assert env["LECTERN_FAKE_KAFKA_BOOTSTRAP"] == state.infra["kafka_bootstrap"]
    assert env["LECTERN_FAKE_INTERNAL_TOKEN_PUBLIC_KEYS"] == state.secrets["internal_token_public_keys"]
    assert "LECTERN_FAKE_INTERNAL_TOKEN_PRIVATE_KEY" not in env
    assert env["LECTERN_FAKE_S3_BUCKET"] == state.s3_bucket
    # Everything else comes from the fake's ServiceSpec: no launcher code knows it.
    assert env["LECTERN_FAKE_FAKE_PUBLIC_URL"] == f"http://127.0.0.1:{fake.http_port}/fake"
    assert env["LECTERN_FAKE_UPLOAD_TOKEN_SECRET"] == state.secrets["upload_token_secret"]
    assert env["LECTERN_FAKE_GREETING"] == "hello"
    assert env["LECTERN_FAKE_MOOD"] == "calm"
    assert env["LECTERN_FAKE_COURSE_GRPC_TARGET"] == "127.0.0.1:50051"  # not started: its default
    assert "lectern.fake.v1" in state.topics and "lectern.course.v1" in state.topics
    assert state.urls["fake"] == f"http://127.0.0.1:{fake.http_port}/"
    assert launcher.output().count("fake: migrated") == 1  # replicas share the first one's database

    # --replicas fake=2: a second process of the same spec, on ports of its own, same database.
    replica = state.services["fake-2"]
    assert replica.module == fake.module and replica.database_url == fake.database_url
    assert {replica.grpc_port, replica.http_port}.isdisjoint({fake.grpc_port, fake.http_port})
    replica_answer = await fetch_fake(replica.http_port)
    assert replica_answer["pid"] == replica.pid != fake.pid
    replica_env = replica_answer["env"]
    assert isinstance(replica_env, dict)
    assert replica_env["LECTERN_FAKE_GRPC_PORT"] == str(replica.grpc_port)
    assert replica_env["LECTERN_FAKE_DATABASE_URL"] == fake.database_url
    assert replica_env["LECTERN_FAKE_FAKE_PUBLIC_URL"] == f"http://127.0.0.1:{replica.http_port}/fake"
    assert state.urls["fake (fake-2)"] == f"http://127.0.0.1:{replica.http_port}/"


async def test_killed_service_is_restarted_with_a_log_line(launcher: LauncherProcess) -> None:
    state = await launcher.wait_ready(timeout=180)
    old_pid = state.services["fake"].pid
    assert old_pid is not None

    os.kill(old_pid, signal.SIGKILL)

    await launcher.wait_for_output("[launcher] fake exited with code -9, restarting (restart 1)")
    await launcher.wait_for_output("[launcher] fake is back")
    restarted = launcher.state().services["fake"]
    assert restarted.restarts == 1
    assert restarted.pid not in (None, old_pid)
    answer = await fetch_fake(restarted.http_port)
    assert answer["pid"] == restarted.pid


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_stopping_the_launcher_leaves_no_process_behind(launcher: LauncherProcess, stop_signal: int) -> None:
    state = await launcher.wait_ready(timeout=180)
    children = descendants(launcher.pid)
    child_pids = {p.pid for p in children}
    assert set(state.infra_pids) == {"postgres", "redis", "kafka", "s3"}
    assert set(state.infra_pids.values()) <= child_pids
    assert state.services["fake"].pid in child_pids
    assert len(children) > 5  # postgres forks its own helpers

    code = await launcher.stop(stop_signal, timeout=60)

    assert code == 0, launcher.output()[-3000:]
    assert survivors(children) == []
    assert "[launcher] stopped" in launcher.output()
    assert not launcher.state_file.exists()


def test_state_file_round_trips(tmp_path: Path) -> None:
    from lectern_common.devstack.state import ServiceState

    state = StackState(
        launcher_pid=1,
        run_dir="/r",
        infra={"redis_url": "redis://x"},
        infra_pids={"redis": 2},
        secrets={"internal_token_public_keys": "s"},
        s3_bucket="b",
        topics=["t"],
        urls={"gateway": "http://127.0.0.1:8080"},
        services={
            "course": ServiceState(
                name="course",
                module="lectern_course",
                pid=3,
                grpc_port=50051,
                http_port=0,
                database_url=None,
                restarts=0,
                log_file="/r/logs/course.log",
            )
        },
    )
    state.write(tmp_path / "state.json")
    assert StackState.read(tmp_path / "state.json") == state
    assert (tmp_path / "state.json").stat().st_mode & 0o077 == 0
