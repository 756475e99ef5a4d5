"""Free TCP ports for the servers the dev stack starts, and waiting for a port to answer.

Infrastructure always gets free ports (never 5432/6379, which this kind of machine may already
use), and so do services under ``--ports auto``. The ports of the documented defaults (8080-8082,
50051-50054) are never handed out, so a test stack cannot take the port a developer's ``make up``
expects, and no port is handed out twice by one process.

A port is picked below the kernel's ephemeral range (``ip_local_port_range``), not by binding to
port 0: between our check and the server's own bind, any outgoing connection on the machine may
take an ephemeral port (SeaweedFS once failed to bind its filer's gRPC port so, on a machine shared
by several stacks). Where that range leaves too little room below it, the kernel picks (port 0).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

RESERVED_PORTS: frozenset[int] = frozenset({8080, 8081, 8082, 50051, 50052, 50053, 50054})
"""The documented default service ports (ARCHITECTURE section 6)."""

LOWEST_PORT = 10_000
"""Ports below this are left alone (well-known and registered servers, the editor's 5173)."""
_EPHEMERAL_FALLBACK = (32_768, 60_999)  # Linux's default, where /proc does not say
_TRIES = 200

_handed_out: set[int] = set()


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands to outgoing connections (first, last)."""
    try:
        first, last = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return _EPHEMERAL_FALLBACK
    return first, last


def _candidates() -> Iterator[int]:
    first, _ = ephemeral_range()
    if first - LOWEST_PORT < 1_000:
        yield from (0 for _ in range(_TRIES))
        return
    yield from (random.randint(LOWEST_PORT, first - 1) for _ in range(_TRIES))


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now, not reserved and not handed out before by this process."""
    for candidate in _candidates():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, candidate))
            except OSError:  # in use (or lingering in TIME_WAIT): another one
                continue
            port = int(sock.getsockname()[1])
        if port in RESERVED_PORTS or port in _handed_out:
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"could not find a free TCP port after {_TRIES} tries")


async def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether a TCP connection to ``host:port`` succeeds within ``timeout`` seconds."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), timeout=timeout)
    except (OSError, TimeoutError):
        pass
    return True


async def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> bool:
    """Poll until ``host:port`` accepts connections; False if it did not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await port_answers(port, host):
            return True
        await asyncio.sleep(0.1)
    return False
