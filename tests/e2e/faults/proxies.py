"""TCP proxies the fault tests put between a tus client and the upload service (tusd's e2e runs
its server behind such a fault-injecting proxy). Both are real sockets on free ports; neither
parses more of HTTP than the request line."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass

from lectern_common.devstack.ports import free_port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, budget: int | None = None) -> bool:
    """Copy until EOF, or until ``budget`` bytes went through; answers whether the budget cut it."""
    sent = 0
    try:
        while True:
            want = 65536 if budget is None else min(65536, budget - sent)
            if want <= 0:
                return True
            data = await reader.read(want)
            if not data:
                return False
            writer.write(data)
            await writer.drain()
            sent += len(data)
    except (ConnectionError, asyncio.IncompleteReadError):
        return False


def _abort(*writers: asyncio.StreamWriter) -> None:
    for writer in writers:
        with contextlib.suppress(Exception):
            writer.transport.abort()  # an RST, like a network that dropped the connection


class _Proxy:
    def __init__(self) -> None:
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> _Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


@dataclass
class Cut:
    method: str
    after_bytes: int


class CuttingProxy(_Proxy):
    """Forwards to ``upstream_port`` and cuts each PATCH connection after a random number of the
    client's bytes (``min_cut``..``max_cut``, headers included) with an RST, until ``cuts`` were
    made; then it forwards untouched, so the client can finish. Other requests pass untouched."""

    def __init__(self, upstream_port: int, rng: random.Random, *, min_cut: int, max_cut: int, cuts: int) -> None:
        super().__init__()
        self.upstream_port = upstream_port
        self.rng = rng
        self.min_cut, self.max_cut = min_cut, max_cut
        self.cuts_left = cuts
        self.made: list[Cut] = []
        self.patches = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        first = await reader.read(65536)
        is_patch = first.startswith(b"PATCH ")
        self.patches += is_patch
        budget = None
        if is_patch and self.cuts_left > 0:
            self.cuts_left -= 1
            budget = self.rng.randint(self.min_cut, self.max_cut)
        up_writer.write(first[:budget] if budget is not None else first)
        await up_writer.drain()
        if budget is not None and len(first) >= budget:
            self.made.append(Cut("PATCH", budget))
            _abort(writer, up_writer)
            return
        rest = None if budget is None else budget - len(first)
        back = asyncio.create_task(_pipe(up_reader, writer))
        cut = await _pipe(reader, up_writer, rest)
        if cut:
            assert budget is not None
            self.made.append(Cut("PATCH", budget))
            back.cancel()
            _abort(writer, up_writer)
            return
        with contextlib.suppress(Exception):
            up_writer.write_eof()
        await back
        _abort(writer, up_writer)


@dataclass
class Routed:
    method: str
    upstream: int


class RoundRobinProxy(_Proxy):
    """No sticky sessions: each connection goes to the next upstream (PATCHes take turns among
    themselves, so an upload's consecutive PATCHes land on alternating processes)."""

    def __init__(self, upstream_ports: list[int]) -> None:
        super().__init__()
        self.upstream_ports = upstream_ports
        self.routed: list[Routed] = []
        self._turn: dict[str, int] = {}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(65536)
        method = first.split(b" ", 1)[0].decode(errors="replace")
        turn = self._turn.get(method, 0)
        self._turn[method] = turn + 1
        upstream = self.upstream_ports[turn % len(self.upstream_ports)]
        self.routed.append(Routed(method, upstream))
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        up_writer.write(first)
        await up_writer.drain()
        back = asyncio.create_task(_pipe(up_reader, writer))
        await _pipe(reader, up_writer)
        with contextlib.suppress(Exception):
            up_writer.write_eof()
        await back
        _abort(writer, up_writer)
