"""Readiness checks: each raises when its dependency cannot serve, returns quietly when it can."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

ReadinessCheck = Callable[[], Awaitable[None]]

log = logging.getLogger(__name__)


def database_check(engine: AsyncEngine, *, timeout: float = 3.0) -> ReadinessCheck:
    async def check() -> None:
        async with asyncio.timeout(timeout), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    check.__qualname__ = "database"
    return check


def tcp_check(address: str, *, name: str = "tcp", timeout: float = 2.0) -> ReadinessCheck:
    """A TCP connect to ``host:port`` or a URL (Kafka bootstrap, S3 endpoint, Redis); ``name`` is
    what a failure is reported as."""
    first = address.split(",")[0]
    parsed = urlsplit(first if "://" in first else f"tcp://{first}")
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80

    async def check() -> None:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            await writer.wait_closed()

    check.__qualname__ = name
    return check


async def run_checks(checks: list[ReadinessCheck]) -> list[str]:
    """Answers the failures (empty when ready), as ``<check>: unavailable``.

    Readiness answers are public (a probe, a load balancer, anyone who can reach the port): the
    exception (a driver's message with host names, SQL, paths) goes to the log only.
    """
    results = await asyncio.gather(*(check() for check in checks), return_exceptions=True)
    failures = []
    for check, result in zip(checks, results, strict=True):
        if result:
            name = getattr(check, "__qualname__", "check")
            log.warning("readiness check %s failed: %r", name, result)
            failures.append(f"{name}: unavailable")
    return failures
