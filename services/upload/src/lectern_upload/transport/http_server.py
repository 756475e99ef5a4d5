"""uvicorn in-process, as a ``run(stop)`` part of the Runtime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import uvicorn

log = logging.getLogger(__name__)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the Runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    def __init__(self, app: Any, *, host: str, port: int, grace_seconds: float = 10.0) -> None:
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
            http="httptools",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=int(grace_seconds),
        )
        self._server = _QuietServer(self._config)
        self.started = asyncio.Event()

    @property
    def bound_port(self) -> int | None:
        for server in getattr(self._server, "servers", []) or []:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return None

    async def run(self, stop: asyncio.Event) -> None:
        task = asyncio.create_task(self._server.serve())
        while not self._server.started and not task.done():  # noqa: ASYNC110 - uvicorn exposes only a bool
            await asyncio.sleep(0.02)
        if task.done():
            await task
            raise RuntimeError(f"HTTP server could not start on {self._config.host}:{self._config.port}")
        self.started.set()
        log.info("tus HTTP listening on port %s", self.bound_port)
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        self._server.should_exit = True
        await task
