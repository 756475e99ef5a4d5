"""The upload rules: one core behind the tus edge, the gRPC control API and the janitor.

Durable state (the ``uploads`` row) always describes bytes S3 acknowledged:
``offset == sum(parts) + tail_size``. A PATCH streams its body through a :class:`PartWriter`;
each full part, once stored, is committed (offset, part list, SHA-256 state), and when the body
ends (or the client goes away) the bytes past the last full part go to the ``<key>.part`` tail
object. So any replica, or this one after a restart, resumes from HEAD's offset. With an
``Upload-Checksum`` header nothing of the PATCH is committed until the checksum matched, so a
corrupted chunk leaves the upload exactly as it was (tus: 460).
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from lectern.events.v1.upload_events_pb2 import UploadChanged
from lectern_common.db import UnitOfWork
from lectern_common.errors import DomainError
from lectern_common.events import UPLOAD_TOPIC
from lectern_common.idempotency import IdempotencyStore, fingerprint
from lectern_common.objectstore import ObjectStore, ObjectStoreUnavailable, UploadedPart
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_upload import errors
from lectern_upload.models import UploadRow
from lectern_upload.progress.publisher import ProgressPublisher, ProgressThrottle, ProgressThrottles
from lectern_upload.settings import UploadSettings
from lectern_upload.storage.buffer_pool import PartBufferPool, PartBuffersBusy
from lectern_upload.storage.part_writer import PartWriter
from lectern_upload.storage.sha256state import ResumableSha256
from lectern_upload.tokens import CREATE, UPLOAD, UploadGrant, UploadTokens
from lectern_upload.uploads.locks import LockBusy, UploadLocks
from lectern_upload.uploads.repository import UploadRepository
from lectern_upload.uploads.schemas import (
    ACTIVE,
    BYTES_STORED,
    BodyInterrupted,
    ChunkChecksum,
    CreatedUpload,
    MediaOutcome,
    NewUpload,
    UploadStatus,
    UploadView,
)

log = logging.getLogger(__name__)

# How long a request waits for another holder of an upload's lock: long enough for a PATCH whose
# client just vanished to store its tail, short enough that a real concurrent writer is refused.
LOCK_WAIT_SECONDS = 3.0
HEAD_LOCK_WAIT_SECONDS = 2.0
CHECKSUM_ALGORITHMS = ("sha1", "sha256")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _view(row: UploadRow) -> UploadView:
    return UploadView(
        id=row.id,
        owner_id=row.owner_id,
        status=UploadStatus(row.status),
        offset=row.offset,
        size_bytes=row.size_bytes,
        file_name=row.file_name,
        mime_type=row.mime_type,
        course_id=row.course_id,
        chapter_id=row.chapter_id,
        lesson_title=row.lesson_title,
        tus_metadata=row.tus_metadata,
        checksum=row.checksum,
        storage_key=row.storage_key,
        bucket=row.bucket,
        error=row.error,
        media_id=row.media_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, ObjectStoreUnavailable)


class UploadService:
    def __init__(
        self,
        *,
        settings: UploadSettings,
        uow: UnitOfWork,
        store: ObjectStore,
        locks: UploadLocks,
        tokens: UploadTokens,
        publisher: ProgressPublisher,
        outbox: Any,
        buffers: PartBufferPool,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._settings = settings
        self._buffers = buffers
        self._write_slots = asyncio.Semaphore(settings.max_concurrent_writes)
        self._writes_by_user: dict[str, int] = {}
        self._uow = uow
        self._store = store
        self._locks = locks
        self._tokens = tokens
        self._publisher = publisher
        self._progress = ProgressThrottles()
        self._outbox = outbox
        self._idempotency = IdempotencyStore()
        self._clock = clock

    # -- creation --------------------------------------------------------------------------------

    def validate_new(self, new: NewUpload) -> None:
        """Check a new upload against the static limits (size, type, name)."""
        s = self._settings
        if not new.file_name.strip() or len(new.file_name) > 500:
            raise errors.invalid(
                "upload.invalid_file_name", "fileName must be 1 to 500 characters", {"fileName": "1 to 500 characters"}
            )
        if new.size_bytes is not None:
            if new.size_bytes <= 0:
                raise errors.invalid(
                    "upload.invalid_size", "sizeBytes must be positive", {"sizeBytes": "must be positive"}
                )
            if new.size_bytes > s.max_upload_bytes:
                raise errors.too_large(new.size_bytes, s.max_upload_bytes)
        # Each bound is its column's (tus metadata reaches here unchecked by the gateway).
        for name, value, limit in (
            ("mimeType", new.mime_type, 200),
            ("courseId", new.course_id, 200),
            ("chapterId", new.chapter_id, 200),
            ("lessonTitle", new.lesson_title, 500),
        ):
            if value is not None and len(value) > limit:
                raise errors.invalid(
                    f"upload.invalid_{name.lower()}",
                    f"{name} must be at most {limit} characters",
                    {name: f"at most {limit}"},
                )
        mime = new.mime_type.strip().lower()
        if not any(fnmatch.fnmatchcase(mime, pattern) for pattern in s.allowed_mime_types):
            raise errors.unsupported_type(new.mime_type, s.allowed_mime_types)

    async def _check_quota(self, repo: UploadRepository, owner_id: str, size: int | None) -> None:
        s = self._settings
        active = await repo.count_active(owner_id)
        if active >= s.max_concurrent_uploads_per_user:
            raise errors.quota_exceeded(
                "upload.too_many_concurrent",
                f"at most {s.max_concurrent_uploads_per_user} uploads may be in progress at once",
                {"active": active, "limit": s.max_concurrent_uploads_per_user},
            )
        # Upload-Defer-Length: the length is unknown until a later PATCH, and the upload may grow to
        # max_upload_bytes meanwhile, so that much is reserved until the length is declared.
        requested = size if size is not None else s.max_upload_bytes
        used = await repo.bytes_used(owner_id, deferred_reservation=s.max_upload_bytes)
        if used + requested > s.user_quota_bytes:
            raise errors.quota_exceeded(
                "upload.quota_exceeded",
                "this upload would exceed your storage quota",
                {"usedBytes": used, "quotaBytes": s.user_quota_bytes, "requestedBytes": requested},
            )

    async def create(
        self,
        owner_id: str,
        new: NewUpload,
        *,
        creation_token_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> CreatedUpload:
        """Create an upload (no bytes yet) after checking type, size, concurrency and quota.

        Answers its tus URL and an upload-scoped token. With an idempotency key, a repeated
        request answers the first upload instead of creating another.
        """
        self.validate_new(new)
        s = self._settings
        async with self._uow() as session:
            repo = UploadRepository(session)
            scope = f"upload.create:{owner_id}"
            if idempotency_key:
                stored = await self._idempotency.begin(
                    session,
                    scope=scope,
                    key=idempotency_key,
                    request_fingerprint=fingerprint(repr(asdict(new))),
                )
                if stored:
                    existing = await repo.get(stored.decode())
                    if existing is not None:
                        return self._created(_view(existing))
            await repo.lock_owner(owner_id)
            await self._check_quota(repo, owner_id, new.size_bytes)
            upload_id = secrets.token_hex(16)
            now = self._clock()
            row = UploadRow(
                id=upload_id,
                owner_id=owner_id,
                status=UploadStatus.PENDING.value,
                size_bytes=new.size_bytes,
                offset=0,
                file_name=new.file_name,
                mime_type=new.mime_type.lower(),
                course_id=new.course_id or None,
                chapter_id=new.chapter_id or None,
                lesson_title=new.lesson_title or None,
                tus_metadata=new.tus_metadata,
                creation_token_id=creation_token_id,
                bucket=self._store.bucket,
                storage_key=f"{s.storage_prefix}{upload_id}",
                parts=[],
                tail_size=0,
                version=1,
                created_at=now,
                updated_at=now,
                expires_at=now + timedelta(seconds=s.upload_ttl_seconds),
            )
            repo.add(row)
            await session.flush()
            await self._emit(session, row, "created", actor_id=owner_id)
            if idempotency_key:
                await self._idempotency.complete(session, scope=scope, key=idempotency_key, response=upload_id.encode())
        return self._created(_view(row))

    def _created(self, view: UploadView) -> CreatedUpload:
        s = self._settings
        return CreatedUpload(
            upload=view,
            upload_url=f"{s.upload_public_url}{view.id}",
            upload_token=self._tokens.issue_upload_token(
                upload_id=view.id, owner_id=view.owner_id, expires_at=view.expires_at
            ),
            chunk_size_bytes=s.part_size_bytes * s.advised_chunk_parts,
        )

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, owner_id: str, upload_id: str, *, is_service: bool = False) -> UploadView:
        """One upload of ``owner_id`` (a service identity may read any)."""
        async with self._uow.read_only() as session:
            row = await UploadRepository(session).get(upload_id)
            session.expunge_all()  # read_only rolls back, which would expire what we read
        if row is None or (row.owner_id != owner_id and not is_service):
            raise errors.not_found(upload_id)
        return _view(row)

    async def list(
        self, owner_id: str, *, course_id: str | None = None, status: UploadStatus | None = None
    ) -> list[UploadView]:
        """The owner's uploads, newest first, optionally of one course and/or status."""
        async with self._uow.read_only() as session:
            rows = await UploadRepository(session).list_for_owner(owner_id, course_id=course_id, status=status)
            session.expunge_all()
        return [_view(r) for r in rows]

    async def resume(self, owner_id: str, upload_id: str) -> CreatedUpload:
        """What the owner needs to finish an unfinished upload from any device: its tus URL, a
        fresh upload-scoped token (valid until the upload expires) and the offset to send from.

        Another user's or an unknown upload is not found; one that is no longer pending or
        uploading (stored, failed, cancelled, or past its expiry) is a conflict naming its status.
        The offset is the settled one: a writer that is just ending is waited for briefly, as HEAD
        does; the tus client HEADs before it sends anyway.
        """
        try:
            async with self._locks.hold(upload_id, wait_seconds=HEAD_LOCK_WAIT_SECONDS):
                row = await self._load(upload_id)
        except LockBusy:
            row = await self._load(upload_id)
        if row.owner_id != owner_id:
            raise errors.not_found(upload_id)
        if row.status not in ACTIVE:
            raise errors.not_resumable(upload_id, row.status)
        if row.expires_at <= self._clock():
            raise errors.not_resumable(upload_id, UploadStatus.EXPIRED)
        return self._created(_view(row))

    async def head(self, grant: UploadGrant, upload_id: str) -> UploadView:
        """The settled state for tus HEAD. Waits briefly for a writer that is just finishing
        (a PATCH whose client vanished stores its tail first), then answers the durable state."""
        self._check_grant_names(grant, upload_id)
        try:
            async with self._locks.hold(upload_id, wait_seconds=HEAD_LOCK_WAIT_SECONDS):
                row = await self._load(upload_id)
        except LockBusy:
            row = await self._load(upload_id)
        self._authorize(grant, row)
        self._check_live(row)
        return _view(row)

    # -- access ----------------------------------------------------------------------------------

    def authorize_creation(self, grant: UploadGrant, new: NewUpload) -> None:
        """Only a creation token creates through tus, and only for the course it names.

        Upload cannot ask course who may edit what (it holds no key course trusts), so the course
        ownership check of a plain tus creation is the one made when its creation token was
        minted for that course: ``Upload-Metadata`` may name that course (and a chapter in it)
        but never another one. A token that names no course creates uploads outside any course.
        The chapter is checked against the course again where completion adds the lesson
        (course's ``add_uploaded_lesson``, which also re-checks that the uploader may edit it).
        """
        if grant.kind != CREATE:
            raise errors.forbidden("an upload token cannot create uploads; use a creation token")
        if grant.course_id is None:
            if new.course_id or new.chapter_id:
                raise errors.forbidden(
                    "this creation token names no course: Upload-Metadata courseId/chapterId are not allowed"
                )
        elif new.course_id != grant.course_id:
            raise errors.forbidden("this creation token is for another course")

    @staticmethod
    def _check_grant_names(grant: UploadGrant, upload_id: str) -> None:
        if grant.kind == UPLOAD and grant.upload_id != upload_id:
            raise errors.forbidden("this token is for another upload")

    @staticmethod
    def _authorize(grant: UploadGrant, row: UploadRow) -> None:
        if grant.kind == UPLOAD:
            allowed = grant.upload_id == row.id and grant.owner_id == row.owner_id
        else:
            allowed = (
                grant.token_id is not None
                and row.creation_token_id is not None
                and hmac.compare_digest(grant.token_id, row.creation_token_id)
                and grant.owner_id == row.owner_id
            )
        if not allowed:
            raise errors.forbidden("this token does not grant access to this upload")

    def _check_live(self, row: UploadRow) -> None:
        if row.status in (UploadStatus.CANCELLED, UploadStatus.FAILED, UploadStatus.EXPIRED):
            raise errors.gone(row.id, row.status)
        if row.status in ACTIVE and row.expires_at <= self._clock():
            raise errors.expired(row.id)

    async def _load(self, upload_id: str) -> UploadRow:
        async with self._uow.read_only() as session:
            row = await UploadRepository(session).get(upload_id)
            session.expunge_all()
        if row is None:
            raise errors.not_found(upload_id)
        return row

    # -- writing ---------------------------------------------------------------------------------

    @staticmethod
    def parse_checksum(header: str | None) -> ChunkChecksum | None:
        """An ``Upload-Checksum: <algorithm> <base64>`` header (sha1 and sha256)."""
        import base64
        import binascii

        if header is None:
            return None
        algorithm, _, encoded = header.strip().partition(" ")
        algorithm = algorithm.lower()
        if algorithm not in CHECKSUM_ALGORITHMS:
            raise DomainError(
                "upload.checksum_algorithm_unsupported",
                f"checksum algorithm {algorithm!r} is not supported; use one of {', '.join(CHECKSUM_ALGORITHMS)}",
                errors.ErrorKind.VALIDATION_FAILED,
            )
        try:
            digest = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise errors.invalid("upload.invalid_checksum", "Upload-Checksum is not valid base64") from None
        if len(digest) != hashlib.new(algorithm).digest_size:
            raise errors.invalid("upload.invalid_checksum", f"Upload-Checksum is not a {algorithm} digest")
        return ChunkChecksum(algorithm=algorithm, digest=digest)

    async def write(
        self,
        grant: UploadGrant,
        upload_id: str,
        *,
        offset: int,
        body: AsyncIterator[bytes],
        checksum: ChunkChecksum | None = None,
        upload_length: int | None = None,
    ) -> UploadView:
        """Append a PATCH body at ``offset``; answers the upload after it (its new offset).

        One writer per upload across replicas (advisory lock); a concurrent writer is refused
        with ``upload.locked``, a stale offset with ``upload.offset_mismatch``.
        """
        self._check_grant_names(grant, upload_id)
        # One user's share first, refused at once: waiting would still hold the client's socket.
        owner, per_user = grant.owner_id, self._settings.max_concurrent_writes_per_user
        if self._writes_by_user.get(owner, 0) >= per_user:
            raise errors.user_busy(per_user)
        self._writes_by_user[owner] = self._writes_by_user.get(owner, 0) + 1
        try:
            try:
                # Before the lock: each writer holds a pooled connection for it (see settings).
                async with asyncio.timeout(self._settings.limit_wait_seconds):
                    await self._write_slots.acquire()
            except TimeoutError:
                raise errors.busy(None) from None
            try:
                async with self._locks.hold(upload_id, wait_seconds=LOCK_WAIT_SECONDS):
                    return await self._write_locked(grant, upload_id, offset, body, checksum, upload_length)
            except LockBusy:
                raise errors.locked(upload_id) from None
            finally:
                self._write_slots.release()
        finally:
            left = self._writes_by_user[owner] - 1
            if left:
                self._writes_by_user[owner] = left
            else:
                del self._writes_by_user[owner]

    async def _write_locked(
        self,
        grant: UploadGrant,
        upload_id: str,
        offset: int,
        body: AsyncIterator[bytes],
        checksum: ChunkChecksum | None,
        upload_length: int | None,
    ) -> UploadView:
        s = self._settings
        row = await self._load(upload_id)
        self._authorize(grant, row)
        if row.status in BYTES_STORED:
            raise (
                errors.offset_mismatch(row.offset, offset)
                if offset != row.offset
                else DomainError(
                    "upload.already_completed", "the upload is already complete", errors.ErrorKind.CONFLICT
                )
            )
        self._check_live(row)
        if offset != row.offset:
            raise errors.offset_mismatch(row.offset, offset)
        size = row.size_bytes
        if upload_length is not None and upload_length != size:
            size = await self._declare_length(row, upload_length)

        store = self._store
        if row.s3_upload_id is None:
            try:
                row.s3_upload_id = await store.create_multipart_upload(row.storage_key, row.mime_type)
            except Exception as exc:
                if _is_storage_error(exc):
                    raise errors.storage_unavailable("the object store is unavailable; retry") from exc
                raise
            async with self._uow() as session:
                await UploadRepository(session).save_progress(
                    row.id, s3_upload_id=row.s3_upload_id, status=UploadStatus.UPLOADING.value
                )

        parts = [UploadedPart(**p) for p in row.parts]
        # The hash is whole if we have its state, or if nothing was stored in parts before.
        hash_whole = row.hash_state is not None or not parts
        try:
            tail = await store.get_object(self._tail_key(row)) if row.tail_size else b""
        except Exception as exc:
            if _is_storage_error(exc):
                raise errors.storage_unavailable("the object store is unavailable; retry") from exc
            raise
        if len(tail) != row.tail_size:
            raise errors.storage_unavailable("the stored tail of this upload is not readable; retry")

        async def commit_part(stored: list[UploadedPart], state: bytes | None) -> None:
            async with self._uow() as session:
                await UploadRepository(session).save_progress(
                    row.id,
                    parts=[asdict(p) for p in stored],
                    offset=sum(p.size for p in stored),
                    tail_size=0,
                    hash_state=state,
                )

        writer = PartWriter(
            store,
            pool=self._buffers,
            buffer_wait_seconds=s.limit_wait_seconds,
            key=row.storage_key,
            s3_upload_id=row.s3_upload_id,
            concurrency=s.part_upload_concurrency,
            parts=parts,
            tail=tail,
            hasher=ResumableSha256.restore(row.hash_state) if row.hash_state else ResumableSha256(),
            hash_state=row.hash_state,
            # With a checksum nothing is kept before the whole chunk is verified.
            on_part_stored=None if checksum else commit_part,
        )
        progress = self._progress.for_upload(
            row.id,
            lambda: ProgressThrottle(
                self._publisher,
                channel=f"course:{row.course_id}" if row.course_id else f"user:{row.owner_id}",
                course_id=row.course_id,
                operation_id=row.id,
                total=size,
                interval=s.progress_interval_seconds,
            ),
        )
        progress.total = size
        chunk_hash = hashlib.new(checksum.algorithm) if checksum else None
        received = 0
        interrupted = busy = False
        try:
            try:
                async for chunk in body:
                    if size is not None and offset + received + len(chunk) > size:
                        raise DomainError(
                            "upload.exceeds_length",
                            f"the body goes past the upload's length of {size} bytes",
                            errors.ErrorKind.PAYLOAD_TOO_LARGE,
                        )
                    if size is None and offset + received + len(chunk) > s.max_upload_bytes:
                        raise errors.too_large(offset + received + len(chunk), s.max_upload_bytes)
                    received += len(chunk)
                    if chunk_hash is not None:
                        chunk_hash.update(chunk)
                    await writer.feed(chunk)
                    progress.report(offset + received)
            except BodyInterrupted:
                interrupted = True
            except PartBuffersBusy:
                # At the memory budget for too long: end this PATCH keeping what was received
                # up to the last full part, and let the client retry from HEAD's offset.
                interrupted = busy = True

            if checksum is not None and chunk_hash is not None:
                if interrupted:
                    await writer.abandon()
                    if busy:
                        raise errors.busy(row.offset)
                    return _view(row)
                if not hmac.compare_digest(chunk_hash.digest(), checksum.digest):
                    await writer.abandon()
                    raise errors.checksum_mismatch(checksum.algorithm)

            new_offset = offset + received
            if size is not None and new_offset == size and not busy:
                return await self._finish(row, writer, hash_whole, progress)
            await writer.drain()
            kept_tail = writer.take_tail()
            if kept_tail:
                await store.put_object(self._tail_key(row), kept_tail)
            if busy:
                new_offset = writer.stored_bytes + len(kept_tail)  # the unread rest of the body is not kept
            assert writer.stored_bytes + len(kept_tail) == new_offset
            async with self._uow() as session:
                await UploadRepository(session).save_progress(
                    row.id,
                    parts=[asdict(p) for p in writer.parts],
                    offset=new_offset,
                    tail_size=len(kept_tail),
                    hash_state=writer.parts_hash_state,
                    status=UploadStatus.UPLOADING.value,
                )
            row.offset = new_offset
            row.status = UploadStatus.UPLOADING.value
            if busy:
                log.warning("upload %s: no part buffer free in time; PATCH ended at %d", upload_id, new_offset)
                raise errors.busy(new_offset)
            progress.report(new_offset)
            return _view(row)
        except BaseException as exc:
            # Parts committed so far stay committed; everything after them is dropped and the
            # client resumes from HEAD's offset.
            await writer.abandon()
            if isinstance(exc, Exception) and _is_storage_error(exc):
                log.warning("upload %s: object store failed during PATCH: %r", upload_id, exc)
                raise errors.storage_unavailable("the object store failed; HEAD and resume") from exc
            raise
        finally:
            writer.close()

    async def _declare_length(self, row: UploadRow, length: int) -> int:
        """Upload-Length sent late (creation-defer-length): set once, checked like a creation."""
        if row.size_bytes is not None:
            raise errors.invalid("upload.length_mismatch", "Upload-Length differs from the upload's length")
        if length < row.offset:
            raise errors.invalid("upload.invalid_size", "Upload-Length is smaller than the bytes already sent")
        if length > self._settings.max_upload_bytes:
            raise errors.too_large(length, self._settings.max_upload_bytes)
        async with self._uow() as session:
            repo = UploadRepository(session)
            await repo.lock_owner(row.owner_id)
            used = await repo.bytes_used(
                row.owner_id, deferred_reservation=self._settings.max_upload_bytes, excluding=row.id
            )
            if used + length > self._settings.user_quota_bytes:
                raise errors.quota_exceeded(
                    "upload.quota_exceeded",
                    "this upload would exceed your storage quota",
                    {"usedBytes": used, "quotaBytes": self._settings.user_quota_bytes, "requestedBytes": length},
                )
            await repo.save_progress(row.id, size_bytes=length)
        row.size_bytes = length
        return length

    async def _finish(
        self, row: UploadRow, writer: PartWriter, hash_whole: bool, progress: ProgressThrottle
    ) -> UploadView:
        assert row.s3_upload_id is not None and row.size_bytes is not None
        try:
            digest = await writer.complete()
            if not hash_whole:
                digest = await self._sha256_of_object(row.storage_key, row.size_bytes)
        except Exception:
            log.exception("upload %s: completing the object failed", row.id)
            # The stored error is shown to the user (getUpload, upload-failed): no exception text.
            return await self._fail(row, "storing the file failed")
        if row.tail_size:
            await self._delete_quietly(self._tail_key(row))
        async with self._uow() as session:
            repo = UploadRepository(session)
            fresh = await repo.get(row.id, for_update=True)
            assert fresh is not None
            # Every byte is stored; media makes the file from upload.completed, and its
            # media.file.* events move this row on to completed (with the media id) or failed.
            fresh.status = UploadStatus.PROCESSING.value
            fresh.offset = row.size_bytes
            fresh.parts = [asdict(p) for p in writer.parts]
            fresh.tail_size = 0
            fresh.hash_state = None
            fresh.checksum = f"sha256:{digest}"
            fresh.completed_at = self._clock()
            fresh.updated_at = fresh.completed_at
            fresh.version += 1
            await session.flush()
            await self._emit(session, fresh, "completed", actor_id=fresh.owner_id)
        progress.report(row.size_bytes)
        self._progress.forget(row.id)
        return _view(fresh)

    async def _sha256_of_object(self, key: str, size: int) -> str:
        """Fallback when the hash state was lost: read the stored object back in slices."""
        digest = hashlib.sha256()
        slice_size = self._settings.part_size_bytes
        for start in range(0, size, slice_size):
            data = await self._store.get_object_range(key, start, min(size, start + slice_size) - 1)
            digest.update(data)
        return digest.hexdigest()

    async def _fail(self, row: UploadRow, error: str) -> UploadView:
        await self._release_storage(row)
        async with self._uow() as session:
            fresh = await UploadRepository(session).get(row.id, for_update=True)
            assert fresh is not None
            fresh.status = UploadStatus.FAILED.value
            fresh.error = error
            fresh.version += 1
            fresh.updated_at = self._clock()
            await session.flush()
            await self._emit(session, fresh, "failed", actor_id=fresh.owner_id)
        raise errors.storage_unavailable("storing the file failed; the upload is marked failed")

    # -- what media made of it --------------------------------------------------------------------

    async def record_media_outcome(
        self, session: AsyncSession, upload_id: str, outcome: MediaOutcome, *, media_id: str, error: str | None = None
    ) -> bool:
        """Learn what media made of a stored upload (from its ``media.file.*`` events), in the
        caller's transaction: ``registered`` names the media id, ``ready`` completes the upload,
        ``failed`` fails it with media's reason. Idempotent and monotonic: a repeat or a late
        ``registered`` after ``ready`` changes nothing, and an upload that is not ours (another
        stack shares the topic in tests) or whose bytes are not all stored is left alone.
        Answers whether the row changed.
        """
        repo = UploadRepository(session)
        row = await repo.get(upload_id, for_update=True)
        if row is None or UploadStatus(row.status) not in BYTES_STORED:
            if row is not None:
                log.info("upload %s is %s; media's %s is not applied", upload_id, row.status, outcome)
            return False
        status = UploadStatus(row.status)
        if outcome == MediaOutcome.REGISTERED:
            target = status  # registered comes before ready, or with it: it never moves the status
        else:
            target = UploadStatus.COMPLETED if outcome == MediaOutcome.READY else UploadStatus.FAILED
        if row.media_id == media_id and target == status:
            return False
        row.media_id = media_id
        row.status = target.value
        if target == UploadStatus.FAILED:
            row.error = error or "media could not make a file of this upload"
        row.version += 1
        row.updated_at = self._clock()
        await session.flush()
        return True

    # -- ending without completion -----------------------------------------------------------------

    async def terminate(self, grant: UploadGrant, upload_id: str) -> UploadView:
        """tus termination: the token holder cancels the upload and its stored bytes go."""
        self._check_grant_names(grant, upload_id)
        row = await self._load(upload_id)
        self._authorize(grant, row)
        return await self._cancel(upload_id, actor_id=grant.owner_id)

    async def cancel(self, owner_id: str, upload_id: str, *, is_service: bool = False) -> UploadView:
        """Cancel an active upload of ``owner_id``: abort its multipart upload, emit upload.cancelled.
        Cancelling a cancelled upload answers it unchanged; a completed one is a conflict."""
        row = await self._load(upload_id)
        if row.owner_id != owner_id and not is_service:
            raise errors.not_found(upload_id)
        return await self._cancel(upload_id, actor_id=owner_id)

    async def _cancel(self, upload_id: str, *, actor_id: str) -> UploadView:
        try:
            async with self._locks.hold(upload_id, wait_seconds=LOCK_WAIT_SECONDS):
                row = await self._load(upload_id)
                if row.status == UploadStatus.CANCELLED:
                    return _view(row)
                if row.status not in ACTIVE:
                    raise DomainError(
                        "upload.not_cancellable",
                        f"an upload that is {row.status} cannot be cancelled",
                        errors.ErrorKind.CONFLICT,
                        details={"status": row.status},
                    )
                return await self._end(row, UploadStatus.CANCELLED, "cancelled", actor_id=actor_id)
        except LockBusy:
            raise errors.locked(upload_id) from None

    async def _end(
        self, row: UploadRow, status: UploadStatus, event: str, *, actor_id: str, error: str | None = None
    ) -> UploadView:
        await self._release_storage(row)
        async with self._uow() as session:
            fresh = await UploadRepository(session).get(row.id, for_update=True)
            assert fresh is not None
            fresh.status = status.value
            fresh.error = error
            fresh.parts = []
            fresh.tail_size = 0
            fresh.hash_state = None
            fresh.version += 1
            fresh.updated_at = self._clock()
            await session.flush()
            await self._emit(session, fresh, event, actor_id=actor_id)
        return _view(fresh)

    async def _release_storage(self, row: UploadRow) -> None:
        """Abort the multipart upload (S3 drops its parts) and delete the tail object."""
        if row.s3_upload_id:
            try:
                await self._store.abort_multipart_upload(row.storage_key, row.s3_upload_id)
            except Exception as exc:
                if not _is_storage_error(exc):
                    raise
                log.warning("upload %s: abort failed (%r); the janitor sweeps it later", row.id, exc)
        await self._delete_quietly(self._tail_key(row))

    async def _delete_quietly(self, key: str) -> None:
        try:
            await self._store.delete_object(key)
        except Exception as exc:
            if not _is_storage_error(exc):
                raise
            log.warning("could not delete %s: %r", key, exc)

    async def expire_due(self) -> int:
        """Expire active uploads past their expiry: their parts and tail leave S3, and
        upload.expired is emitted. Uploads being written right now are left for the next run."""
        async with self._uow.read_only() as session:
            due = await UploadRepository(session).due_for_expiry(self._clock())
        expired = 0
        for upload_id in due:
            try:
                async with self._locks.hold(upload_id, wait_seconds=0):
                    row = await self._load(upload_id)
                    if row.status in ACTIVE and row.expires_at <= self._clock():
                        await self._end(
                            row,
                            UploadStatus.EXPIRED,
                            "expired",
                            actor_id="system:upload",
                            error="the upload expired before it was complete",
                        )
                        expired += 1
            except LockBusy:
                continue
        return expired

    async def sweep_orphans(self) -> int:
        """Abort multipart uploads under our prefix that no active upload owns (a crash between
        CreateMultipartUpload and saving its id)."""
        s = self._settings
        listed = await self._store.list_multipart_uploads(s.storage_prefix)
        aborted = 0
        for key, s3_upload_id in listed:
            upload_id = key[len(s.storage_prefix) :]
            async with self._uow.read_only() as session:
                row = await UploadRepository(session).get(upload_id)
                session.expunge_all()
            if row is None:
                continue  # not ours to judge (another database shares the bucket in tests)
            if row.status in ACTIVE and row.s3_upload_id in (None, s3_upload_id):
                continue
            await self._store.abort_multipart_upload(key, s3_upload_id)
            aborted += 1
        return aborted

    # -- events ----------------------------------------------------------------------------------

    @staticmethod
    def _tail_key(row: UploadRow) -> str:
        return f"{row.storage_key}.part"

    async def _emit(self, session: AsyncSession, row: UploadRow, what: str, *, actor_id: str) -> None:
        payload = UploadChanged(
            operation_id=row.id,
            owner_id=row.owner_id,
            status=row.status,
            file_name=row.file_name,
            mime_type=row.mime_type,
            size_bytes=row.size_bytes or 0,
            bucket=row.bucket,
            storage_key=row.storage_key if what == "completed" else "",
            checksum=row.checksum or "",
        )
        for field in ("course_id", "chapter_id", "lesson_title", "error"):
            value = getattr(row, field)
            if value:
                setattr(payload, field, value)
        await self._outbox.add(
            session,
            topic=UPLOAD_TOPIC,
            event_type=f"upload.{what}",
            aggregate_id=row.id,
            aggregate_version=row.version,
            actor_id=actor_id,
            payload=payload,
        )


async def run_janitor(service: UploadService, stop: asyncio.Event, interval: float) -> None:
    """Expire overdue uploads every ``interval`` seconds until stopped."""
    from lectern_common.runtime import sleep_or_stop

    while not stop.is_set():
        try:
            count = await service.expire_due()
            if count:
                log.info("janitor: expired %d uploads", count)
            await service.sweep_orphans()
        except Exception:
            log.exception("janitor run failed; retrying next interval")
        await sleep_or_stop(stop, interval)
