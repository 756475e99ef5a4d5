"""Every query on media_links and the course-delete tombstones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.links.schemas import LinkView, ResourceRef, ResourceType
from lectern_media.models import CourseLinkTombstone, MediaLink

_LINK_COLUMNS = (
    MediaLink.media_id,
    MediaLink.resource_type,
    MediaLink.resource_id,
    MediaLink.course_id,
    MediaLink.linked_by,
    MediaLink.linked_at,
)


_TYPES = {t.value: t for t in ResourceType}  # a dict lookup: Enum() is slow on 1,000-link files


def _view(row: Any) -> LinkView:
    return LinkView(
        media_id=str(row.media_id),
        resource_type=_TYPES[row.resource_type],
        resource_id=row.resource_id,
        course_id=row.course_id,
        linked_by=row.linked_by,
        linked_at=row.linked_at,
    )


class LinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_media(self, media_id: str) -> list[LinkView]:
        stmt = select(*_LINK_COLUMNS).where(MediaLink.media_id == media_id).order_by(MediaLink.id)
        return [_view(r) for r in await self.session.execute(stmt)]

    async def first_for_media(self, media_id: str, limit: int) -> list[LinkView]:
        stmt = select(*_LINK_COLUMNS).where(MediaLink.media_id == media_id).order_by(MediaLink.id).limit(limit)
        return [_view(r) for r in await self.session.execute(stmt)]

    async def count_for_media(self, media_id: str) -> int:
        stmt = select(func.count()).select_from(MediaLink).where(MediaLink.media_id == media_id)
        return int((await self.session.execute(stmt)).scalar_one())

    async def get(self, media_id: str, ref: ResourceRef) -> LinkView | None:
        stmt = select(*_LINK_COLUMNS).where(
            MediaLink.media_id == media_id,
            MediaLink.resource_type == ref.resource_type.value,
            MediaLink.resource_id == ref.resource_id,
        )
        row = (await self.session.execute(stmt)).first()
        return _view(row) if row else None

    async def insert_many(self, rows: Sequence[dict[str, Any]]) -> list[LinkView]:
        """Insert links (media_id, resource_type, resource_id, course_id, linked_by[, linked_at]);
        answers the ones that were new (an existing link is left as it is)."""
        if not rows:
            return []
        stmt = (
            insert(MediaLink)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=["media_id", "resource_type", "resource_id"])
            .returning(*_LINK_COLUMNS)
        )
        return [_view(r) for r in await self.session.execute(stmt)]

    async def remove(self, media_id: str, ref: ResourceRef) -> LinkView | None:
        stmt = (
            delete(MediaLink)
            .where(
                MediaLink.media_id == media_id,
                MediaLink.resource_type == ref.resource_type.value,
                MediaLink.resource_id == ref.resource_id,
            )
            .returning(*_LINK_COLUMNS)
        )
        row = (await self.session.execute(stmt)).first()
        return _view(row) if row else None

    async def remove_all_for_media(self, media_id: str) -> list[LinkView]:
        stmt = delete(MediaLink).where(MediaLink.media_id == media_id).returning(*_LINK_COLUMNS)
        return sorted((_view(r) for r in await self.session.execute(stmt)), key=lambda link: link.linked_at)

    @staticmethod
    def _targets_clause(refs: Sequence[ResourceRef], course_id: str | None) -> Any:
        clauses: list[Any] = []
        if refs:
            clauses.append(
                tuple_(MediaLink.resource_type, MediaLink.resource_id).in_(
                    [(r.resource_type.value, r.resource_id) for r in refs]
                )
            )
        if course_id:
            clauses.append(MediaLink.course_id == course_id)
        return or_(*clauses) if clauses else and_(False)  # type: ignore[arg-type]

    async def media_ids_for_targets(self, refs: Sequence[ResourceRef], course_id: str | None) -> list[str]:
        stmt = select(MediaLink.media_id).where(self._targets_clause(refs, course_id)).distinct()
        return [str(m) for m in (await self.session.execute(stmt)).scalars()]

    async def remove_for_targets(
        self, refs: Sequence[ResourceRef], course_id: str | None, media_ids: Sequence[str]
    ) -> list[LinkView]:
        """Remove the links to any of ``refs`` (or anywhere in ``course_id``) of the given files."""
        if not media_ids:
            return []
        stmt = (
            delete(MediaLink)
            .where(self._targets_clause(refs, course_id), MediaLink.media_id.in_(list(media_ids)))
            .returning(*_LINK_COLUMNS)
        )
        return [_view(r) for r in await self.session.execute(stmt)]

    async def remove_lesson_links(self, lesson_id: str, media_id: str | None) -> list[LinkView]:
        stmt = delete(MediaLink).where(
            MediaLink.resource_type == ResourceType.LESSON.value, MediaLink.resource_id == lesson_id
        )
        if media_id:
            stmt = stmt.where(MediaLink.media_id == media_id)
        return [_view(r) for r in await self.session.execute(stmt.returning(*_LINK_COLUMNS))]

    async def add_tombstones(self, course_id: str, links: Sequence[LinkView]) -> None:
        if not links:
            return
        await self.session.execute(
            insert(CourseLinkTombstone).values(
                [
                    {
                        "course_id": course_id,
                        "media_id": link.media_id,
                        "resource_type": link.resource_type.value,
                        "resource_id": link.resource_id,
                        "linked_by": link.linked_by,
                        "linked_at": link.linked_at,
                    }
                    for link in links
                ]
            )
        )

    async def take_tombstones(self, course_id: str) -> list[LinkView]:
        """Remove and answer the links a course delete removed (for course.restored)."""
        stmt = (
            delete(CourseLinkTombstone)
            .where(CourseLinkTombstone.course_id == course_id)
            .returning(
                CourseLinkTombstone.media_id,
                CourseLinkTombstone.resource_type,
                CourseLinkTombstone.resource_id,
                CourseLinkTombstone.course_id,
                CourseLinkTombstone.linked_by,
                CourseLinkTombstone.linked_at,
            )
        )
        return [_view(r) for r in await self.session.execute(stmt)]

    async def tombstone_media_ids(self, course_id: str) -> list[str]:
        stmt = select(CourseLinkTombstone.media_id).where(CourseLinkTombstone.course_id == course_id).distinct()
        return [str(m) for m in (await self.session.execute(stmt)).scalars()]
