"""Cuts an upload's byte stream into S3 multipart parts with bounded memory.

Bytes are buffered up to one part; a full part is hashed (into the resumable SHA-256) and sent
with UploadPart while the next one is received. At most ``concurrency`` parts are in flight, so
an upload holds at most ``(concurrency + 1) * part_size`` bytes plus one network chunk. Parts
settle strictly in order, and each settled part is reported (with the hash state after it) so the
caller can make it durable: the resumable state only ever names parts S3 acknowledged.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from lectern_common.objectstore import ObjectStore, UploadedPart

from lectern_upload.storage.sha256state import ResumableSha256

PartStored = Callable[[list[UploadedPart], bytes | None], Awaitable[None]]


class PartWriter:
    def __init__(
        self,
        store: ObjectStore,
        *,
        key: str,
        s3_upload_id: str,
        part_size: int,
        concurrency: int,
        parts: list[UploadedPart],
        tail: bytes,
        hasher: ResumableSha256,
        hash_state: bytes | None,
        on_part_stored: PartStored | None,
    ) -> None:
        self._store = store
        self._key = key
        self._upload_id = s3_upload_id
        self._part_size = part_size
        self._concurrency = max(1, concurrency)
        self.parts = list(parts)
        # One fixed buffer of one part, filled in place: growing and trimming a bytearray costs
        # a reallocation (and fresh pages) for nearly every network chunk.
        self._buffer = bytearray(part_size)
        self._buffer[: len(tail)] = tail
        self._fill = len(tail)
        self._hasher = hasher
        self.parts_hash_state = hash_state  # SHA-256 state after exactly the settled parts
        self._on_part_stored = on_part_stored
        self._in_flight: deque[tuple[asyncio.Future[UploadedPart], asyncio.Future[bytes | None]]] = deque()
        self._last_hash: asyncio.Future[bytes | None] | None = None
        self._next_number = len(parts) + 1

    @property
    def stored_bytes(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def buffered(self) -> int:
        return self._fill

    async def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        size = self._part_size
        while view:
            take = min(size - self._fill, len(view))
            self._buffer[self._fill : self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
            if self._fill == size:
                part = bytes(self._buffer)
                self._fill = 0
                await self._send(part)

    async def _send(self, part: bytes) -> None:
        # Hashing runs in a thread, chained so parts are hashed strictly in byte order, and
        # overlaps with receiving the next part and with the uploads.
        hashed = asyncio.ensure_future(self._hash_after(self._last_hash, part))
        self._last_hash = hashed
        while len(self._in_flight) >= self._concurrency:
            await self._settle_oldest()
        number, self._next_number = self._next_number, self._next_number + 1
        task = asyncio.ensure_future(self._store.upload_part(self._key, self._upload_id, number, part))
        self._in_flight.append((task, hashed))

    async def _hash_after(self, previous: asyncio.Future[bytes | None] | None, data: bytes) -> bytes | None:
        if previous is not None:
            await previous
        if data:
            await asyncio.to_thread(self._hasher.update, data)
        return self._hasher.state()

    async def _settle_oldest(self) -> None:
        task, hashed = self._in_flight[0]
        part = await task
        state = await hashed
        self._in_flight.popleft()
        self.parts.append(part)
        self.parts_hash_state = state
        if self._on_part_stored is not None:
            await self._on_part_stored(self.parts, state)

    async def drain(self) -> None:
        """Wait for every part in flight, settling (and reporting) them in order."""
        while self._in_flight:
            await self._settle_oldest()

    def take_tail(self) -> bytes:
        """The bytes past the last full part (to keep in the tail object between PATCHes)."""
        with memoryview(self._buffer) as view:
            tail = bytes(view[: self._fill])
        self._fill = 0
        return tail

    async def abandon(self) -> None:
        """Forget parts in flight (S3 keeps them unreferenced until they are re-sent or aborted)."""
        while self._in_flight:
            task, hashed = self._in_flight.popleft()
            task.cancel()
            hashed.cancel()
            await asyncio.gather(task, hashed, return_exceptions=True)
        if self._last_hash is not None:
            self._last_hash.cancel()
            await asyncio.gather(self._last_hash, return_exceptions=True)
        self._fill = 0

    async def complete(self) -> str:
        """Send the last (short) part and complete the multipart upload; answer the sha256 hex of
        everything the hasher saw (the caller knows whether it saw the whole file)."""
        await self.drain()
        last = self.take_tail()
        await self._hash_after(self._last_hash, last)
        if last or not self.parts:
            number, self._next_number = self._next_number, self._next_number + 1
            self.parts.append(await self._store.upload_part(self._key, self._upload_id, number, last))
        await self._store.complete_multipart_upload(self._key, self._upload_id, self.parts)
        return self._hasher.hexdigest()
