"""Readiness checks: each raises when its dependency cannot serve, returns quietly when it can."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

ReadinessCheck = Callable[[], Awaitable[None]]


def database_check(engine: AsyncEngine, *, timeout: float = 3.0) -> ReadinessCheck:
    async def check() -> None:
        async with asyncio.timeout(timeout), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def tcp_check(address: str, *, timeout: float = 2.0) -> ReadinessCheck:
    """A TCP connect to ``host:port`` or a URL (Kafka bootstrap, S3 endpoint, Redis)."""
    first = address.split(",")[0]
    parsed = urlsplit(first if "://" in first else f"tcp://{first}")
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80

    async def check() -> None:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            await writer.wait_closed()

    return check


async def run_checks(checks: list[ReadinessCheck]) -> list[str]:
    """Answers the failures (empty when ready)."""
    results = await asyncio.gather(*(check() for check in checks), return_exceptions=True)
    return [f"{getattr(c, '__qualname__', 'check')}: {r!r}" for c, r in zip(checks, results, strict=True) if r]
