"""uvicorn in-process, as a ``run(stop)`` part of the :class:`~lectern_common.runtime.Runtime`.

The one HTTP server of every service that serves HTTP (the gateway's API, upload's tus port,
realtime's WebSocket and publish ports)::

    http = HttpServer(app, host=settings.bind_host, port=settings.http_port,
                      grace_seconds=settings.shutdown_grace_seconds, timeout_keep_alive=75)
    parts = {"http": http.run}

* ``run(stop)`` serves until ``stop`` is set, then stops accepting and gives in-flight requests
  ``grace_seconds`` to finish. A server that cannot start (port taken) or stops on its own fails
  the part with :class:`RuntimeError`, so the Runtime takes the process down whole. A service that
  stops two servers in an order (realtime: sockets first, the publish port last) gives each its
  own ``stop`` event.
* ``started`` is set once the socket listens; ``bound_port`` is then the real port (``port=0``
  picks a free one: tests).
* uvicorn installs no signal handlers (the Runtime owns SIGTERM/SIGINT), runs no lifespan
  (``lifespan="off"``: the app's bootstrap is its startup and shutdown), sets up no event loop
  (it runs in the service's) and no logging of its own (``log_config=None``: its records go
  through the service's structured logging), and writes no access log.

The keyword options are uvicorn's (same names, same defaults unless said above), for what the
services tune: ``http`` (``"httptools"`` for the data planes), ``timeout_keep_alive``,
``backlog``, ``limit_concurrency``, ``proxy_headers``/``forwarded_allow_ips``, ``log_level``, and
for WebSockets ``ws``, ``ws_max_size``, ``ws_ping_interval``, ``ws_ping_timeout``,
``ws_per_message_deflate``.

Services that use it depend on ``uvicorn`` (``lectern-common[http]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn

log = logging.getLogger(__name__)

HttpImpl = Literal["auto", "h11", "httptools"]
WsImpl = Literal["auto", "none", "websockets", "websockets-sansio", "wsproto"]
Lifespan = Literal["auto", "on", "off"]


class _RuntimeOwnedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the Runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """One ASGI app on one port, run as a Runtime part (see the module docstring)."""

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        grace_seconds: float = 10.0,
        name: str = "http",
        http: HttpImpl = "auto",
        timeout_keep_alive: int = 5,
        backlog: int = 2048,
        limit_concurrency: int | None = None,
        proxy_headers: bool = True,
        forwarded_allow_ips: list[str] | str | None = None,
        log_level: str | None = None,
        lifespan: Lifespan = "off",
        ws: WsImpl | type[asyncio.Protocol] = "auto",  # a class: uvicorn uses it as is
        ws_max_size: int = 16 * 1024 * 1024,
        ws_ping_interval: float | None = 20.0,
        ws_ping_timeout: float | None = 20.0,
        ws_per_message_deflate: bool = True,
    ) -> None:
        self.name = name
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="none",
            lifespan=lifespan,
            log_config=None,
            log_level=log_level,
            access_log=False,
            http=http,
            ws=ws,
            ws_max_size=ws_max_size,
            ws_ping_interval=ws_ping_interval,
            ws_ping_timeout=ws_ping_timeout,
            ws_per_message_deflate=ws_per_message_deflate,
            timeout_keep_alive=timeout_keep_alive,
            timeout_graceful_shutdown=int(grace_seconds),
            backlog=backlog,
            limit_concurrency=limit_concurrency,
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips,
        )
        self._server = _RuntimeOwnedServer(self.config)
        self.started = asyncio.Event()

    @property
    def bound_port(self) -> int | None:
        """The port the socket listens on, once ``started``."""
        for server in getattr(self._server, "servers", None) or []:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; fail if the server cannot start or stops on its own."""
        serving = asyncio.create_task(self._serve(), name=f"{self.name}-server")
        try:
            await self._until_listening(serving)
            self.started.set()
            log.info("%s listening on %s:%s", self.name, self.config.host, self.bound_port)
            stop_waiter = asyncio.create_task(stop.wait())
            await asyncio.wait({serving, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
            stop_waiter.cancel()
        finally:
            self._server.should_exit = True
            await serving  # the bind error, if that is why it stopped
        if not stop.is_set():
            raise RuntimeError(f"{self.name}: the HTTP server stopped on its own")

    async def _serve(self) -> None:
        try:
            await self._server.serve()
        except SystemExit as exc:  # uvicorn's answer to a failed startup; a part failure here
            raise RuntimeError(
                f"{self.name}: the HTTP server could not start on {self.config.host}:{self.config.port}"
            ) from exc

    async def _until_listening(self, serving: asyncio.Task[None]) -> None:
        while not self._server.started:  # uvicorn exposes only a bool, no event
            if serving.done():
                await serving  # raises why it could not start
                raise RuntimeError(f"{self.name}: the HTTP server stopped before it started")
            await asyncio.sleep(0.01)
