"""Every query on media_files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, delete, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.models import MediaFile


def like_pattern(query: str) -> str:
    """``%query%`` for LIKE with the user's own wildcards escaped, lower-cased like search_text."""
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class MediaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, media_id: str, *, lock: bool = False) -> MediaFile | None:
        """One file; with ``lock`` the row is held FOR UPDATE until the transaction ends, which is
        how link, unlink and every delete path serialize on the same file."""
        stmt = select(MediaFile).where(MediaFile.id == media_id)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def insert_if_new_upload(self, values: dict[str, Any]) -> MediaFile | None:
        """Insert a file for an upload unless that upload already made one (idempotent by upload id)."""
        stmt = (
            insert(MediaFile)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[MediaFile.upload_operation_id])
            .returning(MediaFile.id)
        )
        new_id = (await self.session.execute(stmt)).scalar_one_or_none()
        if new_id is None:
            return None
        return await self.get(new_id)

    async def page(
        self,
        *,
        owner_id: str,
        query: str,
        status: str | None,
        include_deleted: bool,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[MediaFile]:
        """One page of an owner's files, newest first, keyset-paginated on (created_at, id)."""
        stmt = select(MediaFile).where(MediaFile.owner_id == owner_id)
        if query:
            # Served by the trigram GIN index on search_text.
            stmt = stmt.where(MediaFile.search_text.like(like_pattern(query), escape="\\"))
        if status:
            stmt = stmt.where(MediaFile.status == status)
        if not include_deleted:
            stmt = stmt.where(MediaFile.deleted_at.is_(None))
        if after is not None:
            created_at, media_id = after
            stmt = stmt.where(
                tuple_(MediaFile.created_at, MediaFile.id)
                < tuple_(literal(created_at, DateTime(timezone=True)), literal(media_id, UUID(as_uuid=False)))
            )
        stmt = stmt.order_by(MediaFile.created_at.desc(), MediaFile.id.desc()).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def many(self, media_ids: Sequence[str], *, owner_id: str | None) -> list[MediaFile]:
        """Live files among ``media_ids`` (of ``owner_id`` unless None)."""
        stmt = select(MediaFile).where(MediaFile.id.in_(list(media_ids)), MediaFile.deleted_at.is_(None))
        if owner_id is not None:
            stmt = stmt.where(MediaFile.owner_id == owner_id)
        return list((await self.session.execute(stmt)).scalars())

    async def lock_live(self, media_ids: Sequence[str]) -> dict[str, MediaFile]:
        """Lock the live files among ``media_ids`` in id order (a fixed order, so two cascades that
        touch the same files cannot deadlock)."""
        if not media_ids:
            return {}
        stmt = (
            select(MediaFile)
            .where(MediaFile.id.in_(sorted(set(media_ids))), MediaFile.deleted_at.is_(None))
            .order_by(MediaFile.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {m.id: m for m in (await self.session.execute(stmt)).scalars()}

    async def add_usage(self, deltas: dict[str, int]) -> None:
        """Adjust usage counts of rows the caller holds locked."""
        for media_id, delta in deltas.items():
            if delta:
                await self.session.execute(
                    update(MediaFile)
                    .where(MediaFile.id == media_id)
                    .values(usage_count=MediaFile.usage_count + delta)
                    .execution_options(synchronize_session=False)
                )

    async def lock_purgeable(self, *, deleted_before: datetime, limit: int) -> list[MediaFile]:
        """Soft-deleted files past retention, locked; rows another purge run holds are skipped, so
        two replicas purging at once each take different files."""
        stmt = (
            select(MediaFile)
            .where(MediaFile.deleted_at.is_not(None), MediaFile.deleted_at < deleted_before)
            .order_by(MediaFile.deleted_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def delete(self, media_id: str) -> None:
        await self.session.execute(
            delete(MediaFile).where(MediaFile.id == media_id).execution_options(synchronize_session=False)
        )

    async def get_by_upload(self, operation_id: str) -> MediaFile | None:
        stmt = select(MediaFile).where(MediaFile.upload_operation_id == operation_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()
