"""Free TCP ports for the servers the dev stack starts, and waiting for a port to answer.

Infrastructure always gets free ports (never 5432/6379, which this kind of machine may already
use), and so do services under ``--ports auto``. A port is found by binding to port 0; the ports of
the documented defaults (8080-8082, 50051-50054) are never handed out, so a test stack cannot take
the port a developer's ``make up`` expects, and no port is handed out twice by one process.
"""

from __future__ import annotations

import asyncio
import socket
import time

RESERVED_PORTS: frozenset[int] = frozenset({8080, 8081, 8082, 50051, 50052, 50053, 50054})
"""The documented default service ports (ARCHITECTURE section 6)."""

_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now, not reserved and not handed out before by this process."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port in RESERVED_PORTS or port in _handed_out:
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError("could not find a free TCP port after 200 tries")


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
