"""Every query on deletion snapshots and the object-deletion queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.models import DeletionSnapshot, ObjectDeletion


class SnapshotRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, media_id: str, taken_by: str, links: list[dict[str, Any]]) -> int:
        stmt = (
            insert(DeletionSnapshot)
            .values(media_id=media_id, taken_by=taken_by, links=links)
            .returning(DeletionSnapshot.id)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def latest_unconsumed(self, media_id: str) -> DeletionSnapshot | None:
        stmt = (
            select(DeletionSnapshot)
            .where(DeletionSnapshot.media_id == media_id, DeletionSnapshot.consumed_at.is_(None))
            .order_by(DeletionSnapshot.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def consume_all(self, media_id: str, at: datetime) -> None:
        await self.session.execute(
            update(DeletionSnapshot)
            .where(DeletionSnapshot.media_id == media_id, DeletionSnapshot.consumed_at.is_(None))
            .values(consumed_at=at)
            .execution_options(synchronize_session=False)
        )


class ObjectDeletionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, *, media_id: str, bucket: str, storage_key: str) -> None:
        await self.session.execute(
            insert(ObjectDeletion).values(media_id=media_id, bucket=bucket, storage_key=storage_key)
        )

    async def claim(self, limit: int) -> list[ObjectDeletion]:
        """Pending deletions, locked; ones another worker holds are skipped."""
        stmt = select(ObjectDeletion).order_by(ObjectDeletion.id).limit(limit).with_for_update(skip_locked=True)
        return list((await self.session.execute(stmt)).scalars())

    async def done(self, ids: Sequence[int]) -> None:
        if ids:
            await self.session.execute(
                delete(ObjectDeletion)
                .where(ObjectDeletion.id.in_(list(ids)))
                .execution_options(synchronize_session=False)
            )

    async def failed(self, ids: Sequence[int]) -> None:
        if ids:
            await self.session.execute(
                update(ObjectDeletion)
                .where(ObjectDeletion.id.in_(list(ids)))
                .values(attempts=ObjectDeletion.attempts + 1)
                .execution_options(synchronize_session=False)
            )
