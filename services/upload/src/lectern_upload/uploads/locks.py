"""One writer per upload across every replica: a PostgreSQL session advisory lock.

A PATCH (or HEAD, DELETE, the janitor) holds the lock on a dedicated pooled connection for as
long as it touches the upload's bytes. PostgreSQL drops the lock with the connection, so a killed
replica never leaves an upload locked.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# How long a request waits for another holder of an upload's lock: long enough for a PATCH whose
# client just vanished to store its tail, short enough that a real concurrent writer is refused.
LOCK_WAIT_SECONDS = 3.0
# HEAD (and resume) wait a little less, then answer the durable state as it is.
HEAD_LOCK_WAIT_SECONDS = 2.0


def lock_key(upload_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"upload:{upload_id}".encode()).digest()[:8], "big", signed=True)


class LockBusy(Exception):
    pass


class UploadLocks:
    def __init__(self, engine: AsyncEngine, *, poll_seconds: float = 0.05) -> None:
        self._engine = engine
        self._poll = poll_seconds

    @asynccontextmanager
    async def hold(self, upload_id: str, *, wait_seconds: float) -> AsyncIterator[None]:
        """Hold the upload's lock; raise LockBusy if another holder keeps it past ``wait_seconds``."""
        key = lock_key(upload_id)
        async with self._engine.connect() as conn:
            deadline = time.monotonic() + wait_seconds
            while True:
                got = (await conn.execute(select(func.pg_try_advisory_lock(key)))).scalar()
                await conn.commit()
                if got:
                    break
                if time.monotonic() >= deadline:
                    raise LockBusy(upload_id)
                await asyncio.sleep(self._poll)
            try:
                yield
            finally:
                try:
                    await asyncio.shield(self._unlock(conn, key))
                except BaseException:
                    # Closing the connection releases the lock; never return it to the pool held.
                    log.warning("could not unlock upload %s; dropping the connection", upload_id)
                    await conn.invalidate()

    @staticmethod
    async def _unlock(conn: AsyncConnection, key: int) -> None:
        await conn.execute(select(func.pg_advisory_unlock(key)))
        await conn.commit()
