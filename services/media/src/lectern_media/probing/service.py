"""Probing's rules: which files are probed, what an outcome does to a file, and when to try again.

A file is registered ``processing`` with a probe job in the same transaction; a worker leases the
job, probes the bytes in a child process, and ``finish`` moves the file to ``ready`` (with its
duration and probe facts) or ``failed`` (with a reason its owner can read), emitting
media.file.ready / media.file.failed with every course the file is in. Finishing is idempotent:
a file that is no longer processing, or a job that is gone, changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lectern.events.v1.event_types import MEDIA_FILE_FAILED, MEDIA_FILE_READY
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.audit.repository import AuditAction, AuditRepository
from lectern_media.events import MediaEvents
from lectern_media.library.repository import MediaRepository
from lectern_media.library.schemas import CompletedUpload, MediaStatus
from lectern_media.links.repository import LinkRepository
from lectern_media.models import MediaFile
from lectern_media.probing.repository import ProbeJobRepository
from lectern_media.probing.schemas import ObjectLocation, ProbeLimits, ProbeOutcome, ProbeRequest, ProbeVerdict

log = logging.getLogger(__name__)

PROBE_ACTOR = "system:media-probe"


@dataclass(frozen=True)
class StorageAccess:
    """How the probe's child reaches the object store (the bucket comes from each file)."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str


@dataclass(frozen=True)
class ClaimedProbe:
    media_id: str
    attempt: int
    request: ProbeRequest


class ProbingService:
    def __init__(
        self,
        events: MediaEvents,
        storage: StorageAccess,
        limits: ProbeLimits,
        *,
        max_attempts: int = 5,
        retry_after: timedelta = timedelta(seconds=5),
        lease_margin: timedelta = timedelta(seconds=30),
    ) -> None:
        self._events = events
        self._storage = storage
        self.limits = limits
        self._max_attempts = max_attempts
        self._retry_after = retry_after
        self.lease = timedelta(seconds=limits.timeout_seconds) + lease_margin

    async def enqueue(self, session: AsyncSession, media: MediaFile, upload: CompletedUpload) -> None:
        """Queue a just-registered file, remembering where its upload asked it to go."""
        target = {
            "course_id": upload.course_id,
            "chapter_id": upload.chapter_id,
            "lesson_title": upload.lesson_title,
        }
        await ProbeJobRepository(session).enqueue(str(media.id), upload_target=target)

    async def claim(self, session: AsyncSession, *, now: datetime) -> ClaimedProbe | str | None:
        """Lease the next due file and answer what to probe; a job whose file is gone or no longer
        processing is dropped (answers its media id, nothing to probe), and a file whose probes
        were interrupted ``max_attempts`` times (a worker dying on it) is failed here."""
        jobs = ProbeJobRepository(session)
        job = await jobs.claim_due(now=now, lease=self.lease)
        if job is None:
            return None
        media_id = str(job.media_id)
        media = await MediaRepository(session).get(media_id, lock=True)
        if media is None or media.status != MediaStatus.PROCESSING.value:
            await jobs.remove(media_id)
            return media_id
        if job.attempts > self._max_attempts:
            reason = f"this file could not be probed: {job.last_error or 'every attempt was interrupted'}"
            await self._fail(session, media, job.upload_target, reason)
            await jobs.remove(media_id)
            return media_id
        request = ProbeRequest(
            location=ObjectLocation(
                endpoint_url=self._storage.endpoint_url,
                bucket=media.bucket,
                key=media.storage_key,
                size_bytes=media.size_bytes,
                access_key=self._storage.access_key,
                secret_key=self._storage.secret_key,
                region=self._storage.region,
            ),
            mime_type=media.mime_type,
            limits=self.limits,
        )
        return ClaimedProbe(media_id=media_id, attempt=job.attempts, request=request)

    async def finish(self, session: AsyncSession, media_id: str, outcome: ProbeOutcome, *, now: datetime) -> str:
        """Apply a probe's outcome; answers what happened (ready, failed, retry, skipped)."""
        jobs = ProbeJobRepository(session)
        media = await MediaRepository(session).get(media_id, lock=True)
        job = await jobs.get(media_id, lock=True)
        if media is None or job is None or media.status != MediaStatus.PROCESSING.value:
            if job is not None:
                await jobs.remove(media_id)
            return "skipped"  # deleted meanwhile, or another worker finished it first
        if outcome.verdict is ProbeVerdict.RETRY:
            if job.attempts >= self._max_attempts:
                await self._fail(session, media, job.upload_target, f"this file could not be probed: {outcome.reason}")
                await jobs.remove(media_id)
                return "failed"
            delay = self._retry_after * (2 ** max(job.attempts - 1, 0))
            await jobs.retry_later(media_id, not_before=now + delay, error=outcome.reason)
            log.warning("probe of %s will be retried in %s: %s", media_id, delay, outcome.reason)
            return "retry"
        if outcome.verdict is ProbeVerdict.READY and outcome.facts is not None:
            facts = outcome.facts
            media.status = MediaStatus.READY.value
            media.duration_seconds = facts.duration_seconds
            media.probe = facts.to_json()
            media.error = None
            details = {"probe": facts.to_json(), "bytesRead": outcome.bytes_read, "attempt": job.attempts}
            await self._changed(session, media, job.upload_target, MEDIA_FILE_READY, details)
            await jobs.remove(media_id)
            return "ready"
        reason = outcome.reason or "this file could not be read"
        details = {"bytesRead": outcome.bytes_read, "attempt": job.attempts}
        await self._fail(session, media, job.upload_target, reason, details)
        await jobs.remove(media_id)
        return "failed"

    async def release(self, session: AsyncSession, media_id: str) -> None:
        """Hand a leased job back untried (the worker is stopping)."""
        await ProbeJobRepository(session).release(media_id)

    async def _fail(
        self,
        session: AsyncSession,
        media: MediaFile,
        target: dict[str, str | None],
        reason: str,
        details: dict[str, object] | None = None,
    ) -> None:
        media.status = MediaStatus.FAILED.value
        media.error = reason
        await self._changed(session, media, target, MEDIA_FILE_FAILED, {"error": reason, **(details or {})})

    async def _changed(
        self,
        session: AsyncSession,
        media: MediaFile,
        target: dict[str, str | None],
        event_type: str,
        details: dict[str, object],
    ) -> None:
        media.version += 1
        media.updated_at = datetime.now(UTC)
        await session.flush()
        upload = CompletedUpload(
            operation_id=media.upload_operation_id or "",
            owner_id=media.owner_id,
            file_name=media.file_name,
            mime_type=media.mime_type,
            size_bytes=media.size_bytes,
            bucket=media.bucket,
            storage_key=media.storage_key,
            checksum=media.checksum,
            course_id=target.get("course_id"),
            chapter_id=target.get("chapter_id"),
            lesson_title=target.get("lesson_title"),
        )
        linked = {link.course_id for link in await LinkRepository(session).for_media(str(media.id))}
        course_ids = linked | ({upload.course_id} if upload.course_id else set())
        await AuditRepository(session).add(
            media_id=str(media.id),
            owner_id=media.owner_id,
            action=AuditAction.PROBE,
            actor_id=PROBE_ACTOR,
            details={"status": media.status, **details},
        )
        await self._events.file_changed(
            session,
            event_type,
            media,
            # On the uploader's behalf: course adds the upload's lesson as them (the audit says who).
            actor_id=media.owner_id,
            upload=upload if media.upload_operation_id else None,
            course_ids=course_ids,
        )
