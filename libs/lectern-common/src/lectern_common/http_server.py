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

``one_write_per_answer=True`` (with ``http="httptools"``: the gateway) writes an answer's head and
its body to the socket in one write: uvicorn writes the head on ``http.response.start`` and the
body on ``http.response.body``, two send syscalls (and two loopback segments for the client to
read) for an answer that fits in one; here the head waits for the first body write, or for the
answer's end (a HEAD request's), or for the connection's close.

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
        one_write_per_answer: bool = False,
    ) -> None:
        self.name = name
        if one_write_per_answer:
            if http != "httptools":
                raise ValueError("one_write_per_answer is for http='httptools'")
            http_protocol: HttpImpl | type[asyncio.Protocol] = one_write_httptools_protocol()
        else:
            http_protocol = http
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="none",
            lifespan=lifespan,
            log_config=None,
            log_level=log_level,
            access_log=False,
            http=http_protocol,
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


class HeadWithBody:
    """One answer's transport as its request-response cycle writes to it: the head, the first
    write once the response has started, is held and goes out with the next write."""

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle  # uvicorn's RequestResponseCycle
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif not self._head_seen and self._cycle.response_started:  # not a 100 Continue: the head
            self._head, self._head_seen = bytes(data), True
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, ...: the transport's
        return getattr(self._transport, name)


_one_write_protocol: type[asyncio.Protocol] | None = None


def one_write_httptools_protocol() -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with each answer's head and body in one write (made on first
    use: httptools is imported only by the services that use it)."""
    global _one_write_protocol
    if _one_write_protocol is not None:
        return _one_write_protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

    class OneWriteHttpToolsProtocol(HttpToolsProtocol):
        def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
            held = HeadWithBody(cycle.transport, cycle)
            cycle.transport = held  # type: ignore[assignment]
            completed = cycle.on_response

            def on_response() -> None:  # the answer is whole: a head without a body goes out now
                held.flush()
                completed()

            cycle.on_response = on_response
            super()._start_asgi_task(cycle, app)

    _one_write_protocol = OneWriteHttpToolsProtocol
    return OneWriteHttpToolsProtocol
