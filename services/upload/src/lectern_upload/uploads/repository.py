"""Every query the upload service runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lectern_common.db import UnitOfWork
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_upload import errors
from lectern_upload.models import UploadRow
from lectern_upload.uploads.schemas import ACTIVE, STORED_OR_STORING, UploadStatus


async def load(uow: UnitOfWork, upload_id: str) -> UploadRow:
    """One upload read in its own read-only transaction and detached from it (read_only rolls
    back, which would expire what was read); an unknown id is not found."""
    async with uow.read_only() as session:
        row = await UploadRepository(session).get(upload_id)
        session.expunge_all()
    if row is None:
        raise errors.not_found(upload_id)
    return row


class UploadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, upload_id: str, *, for_update: bool = False) -> UploadRow | None:
        query = select(UploadRow).where(UploadRow.id == upload_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    def add(self, row: UploadRow) -> None:
        self.session.add(row)

    async def lock_owner(self, owner_id: str) -> None:
        """Serialize creations of one owner (transaction-scoped), so limits can't be raced."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"upload-owner:{owner_id}"}
        )

    async def count_active(self, owner_id: str) -> int:
        query = select(func.count()).where(UploadRow.owner_id == owner_id, UploadRow.status.in_(list(ACTIVE)))
        return int((await self.session.execute(query)).scalar_one())

    async def bytes_used(self, owner_id: str, *, deferred_reservation: int, excluding: str | None = None) -> int:
        """Bytes the owner's stored and in-flight uploads hold against the quota; an upload whose
        length is still deferred counts as ``deferred_reservation`` (the most it may grow to)."""
        counted = func.coalesce(UploadRow.size_bytes, deferred_reservation)
        query = select(func.coalesce(func.sum(counted), 0)).where(
            UploadRow.owner_id == owner_id, UploadRow.status.in_(list(STORED_OR_STORING))
        )
        if excluding is not None:
            query = query.where(UploadRow.id != excluding)
        return int((await self.session.execute(query)).scalar_one() or 0)

    async def list_for_owner(
        self, owner_id: str, *, course_id: str | None, status: UploadStatus | None, limit: int = 200
    ) -> Sequence[UploadRow]:
        query = select(UploadRow).where(UploadRow.owner_id == owner_id)
        if course_id:
            query = query.where(UploadRow.course_id == course_id)
        if status:
            query = query.where(UploadRow.status == status.value)
        query = query.order_by(UploadRow.created_at.desc()).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def save_progress(self, upload_id: str, **values: Any) -> None:
        """Write the resumable state (parts, tail, hash state, offset) of an active upload."""
        await self.session.execute(
            update(UploadRow).where(UploadRow.id == upload_id).values(**values, updated_at=func.now())
        )

    async def due_for_expiry(self, now: datetime, limit: int = 100) -> Sequence[str]:
        query = (
            select(UploadRow.id)
            .where(UploadRow.status.in_(list(ACTIVE)), UploadRow.expires_at < now)
            .order_by(UploadRow.expires_at)
            .limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()
