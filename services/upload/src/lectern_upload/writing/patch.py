"""One PATCH, under its upload's lock, as named steps:

1. **open**: the durable state and the offset check, a late ``Upload-Length``, the multipart
   upload, and the stored tail, into a :class:`PartWriter`;
2. **receive**: the body into parts (each stored part committed as it settles, unless a checksum
   must match first), the body's own digest beside;
3. **verify**: with ``Upload-Checksum`` nothing of the PATCH is kept unless it matched (tus: 460),
   so a corrupted chunk leaves the upload exactly as it was;
4. **keep** the bytes past the last full part in the tail object and commit the new offset, or
   **finish** the upload when the body brought it to its length (completion.py).

Durable state always describes bytes S3 acknowledged (``offset == sum(parts) + tail_size``), so
a PATCH that fails anywhere leaves the committed parts committed, and the client resumes from
HEAD's offset.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from lectern_common.db import UnitOfWork
from lectern_common.errors import DomainError
from lectern_common.objectstore import UploadedPart

from lectern_upload import errors
from lectern_upload.access import service as access
from lectern_upload.access.tokens import UploadGrant
from lectern_upload.models import UploadRow
from lectern_upload.progress.publisher import ProgressPublisher, ProgressThrottle, ProgressThrottles
from lectern_upload.settings import UploadSettings
from lectern_upload.storage.buffer_pool import PartBufferPool, PartBuffersBusy
from lectern_upload.storage.part_writer import PartWriter
from lectern_upload.storage.sha256state import ResumableSha256
from lectern_upload.storage.upload_objects import UploadObjects
from lectern_upload.uploads.quota import UploadQuota
from lectern_upload.uploads.repository import UploadRepository, load
from lectern_upload.uploads.schemas import BYTES_STORED, BodyInterrupted, ChunkChecksum, UploadStatus, UploadView
from lectern_upload.writing.checksum import ChunkDigest
from lectern_upload.writing.completion import Completion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteTools:
    """What every PATCH works with (one set per process)."""

    settings: UploadSettings
    uow: UnitOfWork
    objects: UploadObjects
    buffers: PartBufferPool
    quota: UploadQuota
    completion: Completion
    publisher: ProgressPublisher
    progress: ProgressThrottles
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class Received:
    """How a body ended: ``count`` bytes read; interrupted (the client went away or stalled),
    or ``busy`` (no part buffer came free in time: the unread rest is not kept)."""

    count: int
    interrupted: bool = False
    busy: bool = False


class PatchWrite:
    def __init__(
        self,
        tools: WriteTools,
        grant: UploadGrant,
        upload_id: str,
        *,
        offset: int,
        checksum: ChunkChecksum | None,
        upload_length: int | None,
    ) -> None:
        self._tools = tools
        self._grant = grant
        self._upload_id = upload_id
        self._offset = offset
        self._digest = ChunkDigest(checksum) if checksum is not None else None
        self._upload_length = upload_length

    async def run(self, body: AsyncIterator[bytes]) -> UploadView:
        """Append ``body`` at the offset; answers the upload after it."""
        row = await self._load_writable()
        size = await self._declared_size(row)
        # The hash is whole if we have its state, or if nothing was stored in parts before.
        hash_whole = row.hash_state is not None or not row.parts
        writer = await self._open(row)
        progress = self._progress_for(row, size)
        try:
            received = await self._receive(body, writer, progress, size)
            if self._digest is not None and not await self._verify(row, writer, received):
                return UploadView.of(row)
            if size is not None and self._offset + received.count == size and not received.busy:
                return await self._tools.completion.finish(row, writer, hash_whole=hash_whole, progress=progress)
            return await self._keep(row, writer, received, progress)
        except BaseException:
            # Parts committed so far stay committed; everything after them is dropped.
            await writer.abandon()
            raise
        finally:
            writer.close()

    # -- open --------------------------------------------------------------------------------------

    async def _load_writable(self) -> UploadRow:
        row = await load(self._tools.uow, self._upload_id)
        access.authorize(self._grant, row)
        if row.status in BYTES_STORED:
            if self._offset != row.offset:
                raise errors.offset_mismatch(row.offset, self._offset)
            raise DomainError("upload.already_completed", "the upload is already complete", errors.ErrorKind.CONFLICT)
        access.check_live(row, self._tools.clock())
        if self._offset != row.offset:
            raise errors.offset_mismatch(row.offset, self._offset)
        return row

    async def _declared_size(self, row: UploadRow) -> int | None:
        """Upload-Length sent late (creation-defer-length): set once, checked like a creation."""
        length, limit = self._upload_length, self._tools.settings.max_upload_bytes
        if length is None or length == row.size_bytes:
            return row.size_bytes
        if row.size_bytes is not None:
            raise errors.invalid("upload.length_mismatch", "Upload-Length differs from the upload's length")
        if length < row.offset:
            raise errors.invalid("upload.invalid_size", "Upload-Length is smaller than the bytes already sent")
        if length > limit:
            raise errors.too_large(length, limit)
        async with self._tools.uow() as session:
            repo = UploadRepository(session)
            await repo.lock_owner(row.owner_id)
            await self._tools.quota.check_bytes(repo, row.owner_id, length, excluding=row.id)
            await repo.save_progress(row.id, size_bytes=length)
        row.size_bytes = length
        return length

    async def _open(self, row: UploadRow) -> PartWriter:
        tools, s = self._tools, self._tools.settings
        if row.s3_upload_id is None:
            row.s3_upload_id = await tools.objects.open_multipart(row)
            async with tools.uow() as session:
                await UploadRepository(session).save_progress(
                    row.id, s3_upload_id=row.s3_upload_id, status=UploadStatus.UPLOADING.value
                )
        tail = await tools.objects.read_tail(row)
        return PartWriter(
            tools.objects.store,
            pool=tools.buffers,
            buffer_wait_seconds=s.limit_wait_seconds,
            key=row.storage_key,
            s3_upload_id=row.s3_upload_id,
            concurrency=s.part_upload_concurrency,
            parts=[UploadedPart(**p) for p in row.parts],
            tail=tail,
            hasher=ResumableSha256.restore(row.hash_state) if row.hash_state else ResumableSha256(),
            hash_state=row.hash_state,
            # With a checksum nothing is kept before the whole chunk is verified.
            on_part_stored=None if self._digest is not None else self._commit_parts,
        )

    def _progress_for(self, row: UploadRow, size: int | None) -> ProgressThrottle:
        tools = self._tools
        progress = tools.progress.for_upload(
            row.id,
            lambda: ProgressThrottle(
                tools.publisher,
                channel=f"course:{row.course_id}" if row.course_id else f"user:{row.owner_id}",
                course_id=row.course_id,
                operation_id=row.id,
                total=size,
                interval=tools.settings.progress_interval_seconds,
            ),
        )
        progress.total = size
        return progress

    # -- receive and verify ------------------------------------------------------------------------

    async def _receive(
        self, body: AsyncIterator[bytes], writer: PartWriter, progress: ProgressThrottle, size: int | None
    ) -> Received:
        offset, limit = self._offset, self._tools.settings.max_upload_bytes
        update = self._digest.update if self._digest is not None else None
        received = 0
        try:
            async for chunk in body:
                end = offset + received + len(chunk)
                if size is not None and end > size:
                    raise DomainError(
                        "upload.exceeds_length",
                        f"the body goes past the upload's length of {size} bytes",
                        errors.ErrorKind.PAYLOAD_TOO_LARGE,
                    )
                if size is None and end > limit:
                    raise errors.too_large(end, limit)
                received += len(chunk)
                if update is not None:
                    update(chunk)
                await writer.feed(chunk)
                progress.report(offset + received)
        except BodyInterrupted:
            return Received(received, interrupted=True)
        except PartBuffersBusy:
            # At the memory budget for too long: end this PATCH keeping what was received up to
            # the last full part, and let the client retry from HEAD's offset.
            return Received(received, interrupted=True, busy=True)
        return Received(received)

    async def _verify(self, row: UploadRow, writer: PartWriter, received: Received) -> bool:
        """Whether the checksummed body is kept: an interrupted one is not (it cannot be checked)."""
        assert self._digest is not None
        if received.interrupted:
            await writer.abandon()
            if received.busy:
                raise errors.busy(row.offset)
            return False
        if not self._digest.matches():
            await writer.abandon()
            raise errors.checksum_mismatch(self._digest.expected.algorithm)
        return True

    # -- keep --------------------------------------------------------------------------------------

    async def _commit_parts(self, stored: list[UploadedPart], state: bytes | None) -> None:
        """Parts S3 acknowledged, with the hash state after exactly them (PartWriter reports them)."""
        async with self._tools.uow() as session:
            await UploadRepository(session).save_progress(
                self._upload_id,
                parts=[asdict(p) for p in stored],
                offset=sum(p.size for p in stored),
                tail_size=0,
                hash_state=state,
            )

    async def _keep(
        self, row: UploadRow, writer: PartWriter, received: Received, progress: ProgressThrottle
    ) -> UploadView:
        await writer.drain()
        tail = writer.take_tail()
        if tail:
            await self._tools.objects.keep_tail(row, tail)
        # At the memory budget the unread rest of the body is not kept.
        end = writer.stored_bytes + len(tail) if received.busy else self._offset + received.count
        assert writer.stored_bytes + len(tail) == end
        async with self._tools.uow() as session:
            await UploadRepository(session).save_progress(
                row.id,
                parts=[asdict(p) for p in writer.parts],
                offset=end,
                tail_size=len(tail),
                hash_state=writer.parts_hash_state,
                status=UploadStatus.UPLOADING.value,
            )
        row.offset = end
        row.status = UploadStatus.UPLOADING.value
        if received.busy:
            log.warning("upload %s: no part buffer free in time; PATCH ended at %d", row.id, end)
            raise errors.busy(end)
        progress.report(end)
        return UploadView.of(row)
