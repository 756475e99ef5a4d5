"""Queries of the media read model (``media_summaries``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.models import MediaReadStamp, MediaSummary

# Every change of a summary bumps the one media stamp in the same transaction: cached editor trees
# are keyed by it (courses.edit_cache), so none is served once a summary it shows has changed.
_BUMP_STAMP = update(MediaReadStamp).where(MediaReadStamp.id == 1).values(stamp=MediaReadStamp.stamp + 1)

# A result row with named columns (row.id, row.title, ...); typed loosely on purpose, as SQLAlchemy's
# per-column Row generics differ between versions.
ResultRow = Any


class MediaSummaryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(
        self,
        *,
        media_id: str,
        owner_id: str,
        file_name: str,
        status: str,
        duration_seconds: float | None,
        size_bytes: int,
        version: int,
    ) -> None:
        """Insert or refresh a summary; an event older than what we hold changes nothing."""
        values = {
            "owner_id": owner_id,
            "file_name": file_name,
            "status": status,
            "duration_seconds": duration_seconds,
            "size_bytes": size_bytes,
            "version": version,
        }
        statement = insert(MediaSummary).values(media_id=media_id, **values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[MediaSummary.media_id],
                set_={**values, "updated_at": func.now()},
                where=MediaSummary.version <= statement.excluded.version,
            )
        )
        await self.session.execute(_BUMP_STAMP)

    async def set_gone(self, media_id: str, *, gone: bool, version: int) -> None:
        await self.session.execute(
            update(MediaSummary)
            .where(MediaSummary.media_id == media_id, MediaSummary.version <= version)
            .values(gone=gone, version=version, updated_at=func.now())
        )
        await self.session.execute(_BUMP_STAMP)

    async def find(self, media_ids: Iterable[str]) -> Sequence[ResultRow]:
        ids = sorted(set(media_ids))
        if not ids:
            return []
        query = select(
            MediaSummary.media_id,
            MediaSummary.owner_id,
            MediaSummary.file_name,
            MediaSummary.status,
            MediaSummary.duration_seconds,
            MediaSummary.size_bytes,
            MediaSummary.gone,
        ).where(MediaSummary.media_id.in_(ids))
        return (await self.session.execute(query)).all()
