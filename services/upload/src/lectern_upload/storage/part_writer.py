"""Cuts an upload's byte stream into S3 multipart parts with bounded memory.

Bytes are copied once, from the network chunk into a part-sized buffer. A full buffer is hashed
(into the resumable SHA-256, in a thread) and sent with UploadPart as it is (no copy: the store
sends the buffer with one ``sendall``), while the next part is received into another
buffer. Buffers come from the process's :class:`PartBufferPool`; an upload holds at most
``concurrency + 1`` of them. A buffer goes back to the pool once S3 answered for its part *and*
the hash consumed it, whoever is waiting on what: a writer blocked on the pool must not be the
one that has to hand buffers back, or uploads waiting on each other would never move.

Parts settle strictly in order, as soon as S3 acknowledged them and the hash consumed them
(from their futures' done callbacks, not only when the next part needs room: a client pausing
after a part would otherwise leave it unrecorded while it pauses), and settled parts are
reported (with the hash state after exactly them) so the caller can make them durable: the
resumable state only ever names parts S3 acknowledged. Reporting runs beside the byte stream,
one report at a time, each naming every part settled so far: a database commit per part in the
receive path stalled it ~9 ms a part (a fifth of the PATCH's time at 5 MiB parts). A crash
loses at most the parts settled since the last report; the client resends them from HEAD's
offset, and UploadPart overwrites by number.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from lectern_common.objectstore import ObjectStore, UploadedPart

from lectern_upload.storage.buffer_pool import PartBufferPool
from lectern_upload.storage.sha256state import ResumableSha256

PartStored = Callable[[list[UploadedPart], bytes | None], Awaitable[None]]


class _Loan:
    """A pool buffer lent to its readers (the UploadPart and the hash), given back when both ended:
    from their done callbacks, so a writer stuck waiting for the pool cannot hold buffers back,
    and at once when the writer settles the part, so the next part reuses it (callbacks run a
    loop turn later; a new buffer would be allocated in between). A cancelled reader may still
    run in its thread, so then only the slot is given back, never the buffer."""

    def __init__(self, pool: PartBufferPool, buffer: bytearray, readers: tuple[asyncio.Future[Any], ...]) -> None:
        self._pool = pool
        self._buffer: bytearray | None = buffer
        self._readers = readers
        for reader in readers:
            reader.add_done_callback(self.give_back)

    def give_back(self, _: object = None) -> None:
        if self._buffer is None or not all(reader.done() for reader in self._readers):
            return
        buffer, self._buffer = self._buffer, None
        if any(reader.cancelled() for reader in self._readers):
            self._pool.discard(buffer)
        else:
            self._pool.release(buffer)


class _InFlight(NamedTuple):
    upload: asyncio.Future[UploadedPart]
    hashed: asyncio.Future[bytes | None]
    loan: _Loan


class PartWriter:
    def __init__(
        self,
        store: ObjectStore,
        *,
        pool: PartBufferPool,
        buffer_wait_seconds: float,
        key: str,
        s3_upload_id: str,
        concurrency: int,
        parts: list[UploadedPart],
        tail: bytes,
        hasher: ResumableSha256,
        hash_state: bytes | None,
        on_part_stored: PartStored | None,
    ) -> None:
        self._store = store
        self._pool = pool
        self._buffer_wait = buffer_wait_seconds
        self._key = key
        self._upload_id = s3_upload_id
        self._part_size = pool.part_size
        self._concurrency = max(1, concurrency)
        self.parts = list(parts)
        # The buffer being filled, taken from the pool with the first bytes (a PATCH that never
        # sends any holds none); until then the stored tail waits in _pending_tail.
        self._buffer: bytearray | None = None
        self._pending_tail = tail
        self._fill = len(tail)
        self._hasher = hasher
        self.parts_hash_state = hash_state  # SHA-256 state after exactly the settled parts
        self._on_part_stored = on_part_stored
        self._reporter: asyncio.Future[None] | None = None
        self._unreported = False
        self._in_flight: deque[_InFlight] = deque()
        self._last_hash: asyncio.Future[bytes | None] | None = None
        self._abandoned = False
        self._next_number = len(parts) + 1

    @property
    def stored_bytes(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def buffered(self) -> int:
        return self._fill

    async def _filling(self) -> bytearray:
        if self._buffer is None:
            buffer = await self._pool.acquire(self._buffer_wait)  # PartBuffersBusy: at budget
            tail, self._pending_tail = self._pending_tail, b""
            buffer[: len(tail)] = tail
            self._buffer = buffer
        return self._buffer

    async def feed(self, chunk: bytes) -> None:
        """Take a chunk of the body. If no buffer frees up in time this raises PartBuffersBusy;
        bytes of the chunk past the last full part are then not kept (the caller knows how far
        it got from ``stored_bytes`` and ``buffered`` after ``drain``)."""
        size = self._part_size
        fill = self._fill
        buffer = self._buffer if self._buffer is not None else await self._filling()
        if fill + len(chunk) < size:  # the common case: the chunk fits, one copy, no views
            buffer[fill : fill + len(chunk)] = chunk
            self._fill = fill + len(chunk)
            return
        view = memoryview(chunk)
        while view:
            buffer = await self._filling()
            take = min(size - self._fill, len(view))
            buffer[self._fill : self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
            if self._fill == size:
                await self._send_full()

    async def _send_full(self) -> None:
        part = self._buffer
        assert part is not None
        # Hashing runs in a thread, chained so parts are hashed strictly in byte order, and
        # overlaps with receiving the next part and with the uploads.
        hashed = asyncio.ensure_future(self._hash_after(self._last_hash, part))
        self._last_hash = hashed
        while len(self._in_flight) >= self._concurrency:
            await self._settle_oldest()
        number, self._next_number = self._next_number, self._next_number + 1
        task = asyncio.ensure_future(self._store.upload_part(self._key, self._upload_id, number, part))
        self._in_flight.append(_InFlight(task, hashed, _Loan(self._pool, part, (task, hashed))))
        task.add_done_callback(self._settle_ready)
        hashed.add_done_callback(self._settle_ready)
        # The next buffer is taken with the next bytes (waiting there, if the pool is empty).
        self._buffer = None
        self._fill = 0

    async def _hash_after(self, previous: asyncio.Future[bytes | None] | None, data: bytes | bytearray) -> bytes | None:
        if previous is not None:
            await previous
        if data:
            await asyncio.to_thread(self._hasher.update, data)
        return self._hasher.state()

    async def _settle_oldest(self) -> None:
        oldest = self._in_flight[0]
        part = await oldest.upload  # a failed UploadPart or hash fails the PATCH here
        state = await oldest.hashed
        if self._in_flight and self._in_flight[0] is oldest:  # else a done callback settled it
            self._settle(oldest, part, state)
        if self._reporter is not None and self._reporter.done():
            self._reporter.result()  # a failed report fails the PATCH

    def _settle_ready(self, _: object = None) -> None:
        """Done callback of every part's upload and hash: settle, in order, each part at the
        front whose both ended well. A failure is left in place for the awaiting path to raise;
        after abandon() nothing settles (the parts before a forgotten one are gone)."""
        while self._in_flight and not self._abandoned:
            oldest = self._in_flight[0]
            futures = (oldest.upload, oldest.hashed)
            if not all(f.done() and not f.cancelled() and f.exception() is None for f in futures):
                return
            self._settle(oldest, oldest.upload.result(), oldest.hashed.result())

    def _settle(self, entry: _InFlight, part: UploadedPart, state: bytes | None) -> None:
        self._in_flight.popleft()
        entry.loan.give_back()
        self.parts.append(part)
        self.parts_hash_state = state
        if self._on_part_stored is None:
            return
        self._unreported = True
        if self._reporter is not None and not self._reporter.done():
            return  # the running report picks these parts up
        if self._reporter is not None and (self._reporter.cancelled() or self._reporter.exception() is not None):
            return  # a failed report stays, to fail the PATCH where it is awaited
        self._reporter = asyncio.ensure_future(self._report(self._on_part_stored))

    async def _report(self, on_part_stored: PartStored) -> None:
        while self._unreported:
            self._unreported = False
            await on_part_stored(list(self.parts), self.parts_hash_state)

    async def drain(self) -> None:
        """Wait for every part in flight, settling them in order, and for their report."""
        while self._in_flight:
            await self._settle_oldest()
        if self._reporter is not None:
            reporter, self._reporter = self._reporter, None
            await reporter

    def take_tail(self) -> bytes | bytearray:
        """The bytes past the last full part (kept in the tail object between PATCHes, or sent as
        the last part), cut from the filling buffer in place, not copied: a copy would cost up to
        one more part of memory just when every other buffer is still allocated. The cut buffer
        is no longer part-sized, so it leaves the pool."""
        fill, self._fill = self._fill, 0
        if self._buffer is None:
            tail, self._pending_tail = self._pending_tail, b""
            return tail
        buffer, self._buffer = self._buffer, None
        if not fill:
            self._pool.release(buffer)
            return b""
        del buffer[fill:]  # shrinks in place (glibc mremaps the mapping; nothing is copied)
        self._pool.discard(buffer)
        return buffer

    def close(self) -> None:
        """Give the filling buffer back (parts in flight give theirs back as they end)."""
        if self._buffer is not None:
            self._pool.release(self._buffer)
            self._buffer = None

    async def abandon(self) -> None:
        """Forget parts in flight (S3 keeps them unreferenced until they are re-sent or aborted).
        A report under way finishes (what it names is stored); no new one starts.

        A cancelled UploadPart may still be running in its thread and reading its buffer, so
        such buffers are discarded, never reused (see _Loan)."""
        self._abandoned = True
        while self._in_flight:
            task, hashed, _ = self._in_flight.popleft()
            task.cancel()
            hashed.cancel()
            await asyncio.gather(task, hashed, return_exceptions=True)
        if self._last_hash is not None:
            self._last_hash.cancel()
            await asyncio.gather(self._last_hash, return_exceptions=True)
        if self._reporter is not None:
            self._unreported = False
            reporter, self._reporter = self._reporter, None
            await asyncio.gather(reporter, return_exceptions=True)
        self._fill = 0
        self._pending_tail = b""

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
