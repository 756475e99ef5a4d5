"""Creating uploads and reading them: the control plane behind gRPC, the tus creation and HEAD,
the consumer of media's verdicts, and cancelling.

Durable state (the ``uploads`` row) always describes bytes S3 acknowledged:
``offset == sum(parts) + tail_size`` (writing/ keeps it so), so any replica, or this one after a
restart, answers HEAD and resumes from the same offset.
"""

from __future__ import annotations

import fnmatch
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from lectern.events.v1 import event_types as types
from lectern_common.db import UnitOfWork
from lectern_common.errors import DomainError
from lectern_common.idempotency import IdempotencyStore, fingerprint
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_upload import errors
from lectern_upload.access import service as access
from lectern_upload.access.tokens import UploadGrant, UploadTokens
from lectern_upload.events import UploadEvents
from lectern_upload.models import UploadRow
from lectern_upload.settings import UploadSettings
from lectern_upload.uploads.endings import UploadEndings
from lectern_upload.uploads.locks import HEAD_LOCK_WAIT_SECONDS, LOCK_WAIT_SECONDS, LockBusy, UploadLocks
from lectern_upload.uploads.quota import UploadQuota
from lectern_upload.uploads.repository import UploadRepository, load
from lectern_upload.uploads.schemas import (
    ACTIVE,
    BYTES_STORED,
    CreatedUpload,
    MediaOutcome,
    NewUpload,
    UploadStatus,
    UploadView,
)

log = logging.getLogger(__name__)

# Each bound is its column's (tus metadata reaches here unchecked by the gateway).
_TEXT_LIMITS = (("mimeType", "mime_type", 200), ("courseId", "course_id", 200), ("chapterId", "chapter_id", 200))


def utcnow() -> datetime:
    return datetime.now(UTC)


class UploadService:
    def __init__(
        self,
        *,
        settings: UploadSettings,
        uow: UnitOfWork,
        bucket: str,
        locks: UploadLocks,
        tokens: UploadTokens,
        events: UploadEvents,
        quota: UploadQuota,
        endings: UploadEndings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._settings = settings
        self._uow = uow
        self._bucket = bucket
        self._locks = locks
        self._tokens = tokens
        self._events = events
        self._quota = quota
        self._endings = endings
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
        for name, attribute, limit in (*_TEXT_LIMITS, ("lessonTitle", "lesson_title", 500)):
            value = getattr(new, attribute)
            if value is not None and len(value) > limit:
                raise errors.invalid(
                    f"upload.invalid_{name.lower()}",
                    f"{name} must be at most {limit} characters",
                    {name: f"at most {limit}"},
                )
        mime = new.mime_type.strip().lower()
        if not any(fnmatch.fnmatchcase(mime, pattern) for pattern in s.allowed_mime_types):
            raise errors.unsupported_type(new.mime_type, s.allowed_mime_types)

    def authorize_creation(self, grant: UploadGrant, new: NewUpload) -> NewUpload:
        """The upload a tus creation with ``grant`` makes (its course: the metadata's, else the
        token's), or forbidden; see :func:`lectern_upload.access.service.creation_for`."""
        return access.creation_for(grant, new)

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
        async with self._uow() as session:
            repo = UploadRepository(session)
            scope = f"upload.create:{owner_id}"
            if idempotency_key:
                stored = await self._idempotency.begin(
                    session, scope=scope, key=idempotency_key, request_fingerprint=fingerprint(repr(asdict(new)))
                )
                existing = await repo.get(stored.decode()) if stored else None
                if existing is not None:
                    return self._created(UploadView.of(existing))
            await repo.lock_owner(owner_id)
            await self._quota.check_new(repo, owner_id, new.size_bytes)
            row = self._new_row(owner_id, new, creation_token_id)
            repo.add(row)
            await session.flush()
            await self._events.changed(session, row, types.UPLOAD_CREATED, actor_id=owner_id)
            if idempotency_key:
                await self._idempotency.complete(session, scope=scope, key=idempotency_key, response=row.id.encode())
        return self._created(UploadView.of(row))

    def _new_row(self, owner_id: str, new: NewUpload, creation_token_id: str | None) -> UploadRow:
        upload_id = secrets.token_hex(16)
        now = self._clock()
        return UploadRow(
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
            bucket=self._bucket,
            storage_key=f"{self._settings.storage_prefix}{upload_id}",
            parts=[],
            tail_size=0,
            version=1,
            created_at=now,
            updated_at=now,
            expires_at=now + timedelta(seconds=self._settings.upload_ttl_seconds),
        )

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
        row = await load(self._uow, upload_id)
        if row.owner_id != owner_id and not is_service:
            raise errors.not_found(upload_id)
        return UploadView.of(row)

    async def list(
        self, owner_id: str, *, course_id: str | None = None, status: UploadStatus | None = None
    ) -> list[UploadView]:
        """The owner's uploads, newest first, optionally of one course and/or status."""
        async with self._uow.read_only() as session:
            rows = await UploadRepository(session).list_for_owner(owner_id, course_id=course_id, status=status)
            session.expunge_all()
        return [UploadView.of(r) for r in rows]

    async def _settled(self, upload_id: str) -> UploadRow:
        """The durable state once a writer that is just ending (a PATCH whose client vanished
        stores its tail first) has ended, or as it is if the writer holds on."""
        try:
            async with self._locks.hold(upload_id, wait_seconds=HEAD_LOCK_WAIT_SECONDS):
                return await load(self._uow, upload_id)
        except LockBusy:
            return await load(self._uow, upload_id)

    async def resume(self, owner_id: str, upload_id: str) -> CreatedUpload:
        """What the owner needs to finish an unfinished upload from any device: its tus URL, a
        fresh upload-scoped token (valid until the upload expires) and the offset to send from.

        Another user's or an unknown upload is not found; one that is no longer pending or
        uploading (stored, failed, cancelled, or past its expiry) is a conflict naming its status.
        The offset is the settled one, as HEAD answers; the tus client HEADs before it sends anyway.
        """
        row = await self._settled(upload_id)
        if row.owner_id != owner_id:
            raise errors.not_found(upload_id)
        if row.status not in ACTIVE:
            raise errors.not_resumable(upload_id, row.status)
        if row.expires_at <= self._clock():
            raise errors.not_resumable(upload_id, UploadStatus.EXPIRED)
        return self._created(UploadView.of(row))

    async def head(self, grant: UploadGrant, upload_id: str) -> UploadView:
        """The settled state for tus HEAD, for a token that grants this upload."""
        access.check_token_names(grant, upload_id)
        row = await self._settled(upload_id)
        access.authorize(grant, row)
        access.check_live(row, self._clock())
        return UploadView.of(row)

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
        row = await UploadRepository(session).get(upload_id, for_update=True)
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
        access.check_token_names(grant, upload_id)
        access.authorize(grant, await load(self._uow, upload_id))
        return await self._cancel(upload_id, actor_id=grant.owner_id)

    async def cancel(self, owner_id: str, upload_id: str, *, is_service: bool = False) -> UploadView:
        """Cancel an active upload of ``owner_id``: abort its multipart upload, emit upload.cancelled.
        Cancelling a cancelled upload answers it unchanged; a completed one is a conflict."""
        row = await load(self._uow, upload_id)
        if row.owner_id != owner_id and not is_service:
            raise errors.not_found(upload_id)
        return await self._cancel(upload_id, actor_id=owner_id)

    async def _cancel(self, upload_id: str, *, actor_id: str) -> UploadView:
        try:
            async with self._locks.hold(upload_id, wait_seconds=LOCK_WAIT_SECONDS):
                row = await load(self._uow, upload_id)
                if row.status == UploadStatus.CANCELLED:
                    return UploadView.of(row)
                if row.status not in ACTIVE:
                    raise DomainError(
                        "upload.not_cancellable",
                        f"an upload that is {row.status} cannot be cancelled",
                        errors.ErrorKind.CONFLICT,
                        details={"status": row.status},
                    )
                return await self._endings.end(row, UploadStatus.CANCELLED, actor_id=actor_id)
        except LockBusy:
            raise errors.locked(upload_id) from None
