"""Every query on the probe queue (``media_probe_jobs``). Built from the caller's session."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.models import ProbeJob


class ProbeJobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, media_id: str, *, upload_target: dict[str, Any]) -> None:
        """Queue a file (once: a second enqueue of the same file changes nothing)."""
        await self.session.execute(
            insert(ProbeJob)
            .values(media_id=media_id, upload_target=upload_target)
            .on_conflict_do_nothing(index_elements=[ProbeJob.media_id])
        )

    async def claim_due(self, *, now: datetime, lease: timedelta) -> ProbeJob | None:
        """Lease the oldest due job nobody holds (SKIP LOCKED: workers never wait on each other),
        counting the attempt. The lease commits with the caller's transaction."""
        job = (
            await self.session.execute(
                select(ProbeJob)
                .where(ProbeJob.not_before <= now, or_(ProbeJob.lease_until.is_(None), ProbeJob.lease_until < now))
                .order_by(ProbeJob.not_before, ProbeJob.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).scalar_one_or_none()
        if job is None:
            return None
        job.lease_until = now + lease
        job.attempts += 1
        await self.session.flush()
        return job

    async def get(self, media_id: str, *, lock: bool = False) -> ProbeJob | None:
        query = select(ProbeJob).where(ProbeJob.media_id == media_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def retry_later(self, media_id: str, *, not_before: datetime, error: str) -> None:
        await self.session.execute(
            update(ProbeJob)
            .where(ProbeJob.media_id == media_id)
            .values(not_before=not_before, lease_until=None, last_error=error[:2000])
        )

    async def release(self, media_id: str) -> None:
        """Give a leased job back untried (a graceful stop mid-probe): the attempt does not count."""
        await self.session.execute(
            update(ProbeJob)
            .where(ProbeJob.media_id == media_id, ProbeJob.lease_until.is_not(None))
            .values(lease_until=None, attempts=ProbeJob.attempts - 1)
        )

    async def remove(self, media_id: str) -> None:
        await self.session.execute(delete(ProbeJob).where(ProbeJob.media_id == media_id))
