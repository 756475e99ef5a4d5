"""Every query on the append-only audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.models import AuditEntry


class AuditAction:
    REGISTER = "register"
    RENAME = "rename"
    LINK = "link"
    UNLINK = "unlink"
    SOFT_DELETE = "soft_delete"
    RESTORE = "restore"
    HARD_DELETE = "hard_delete"
    PURGE = "purge"
    PROBE = "probe"


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, media_id: str, owner_id: str, action: str, actor_id: str, details: dict[str, Any]) -> None:
        await self.add_many(
            [{"media_id": media_id, "owner_id": owner_id, "action": action, "actor_id": actor_id, "details": details}]
        )

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(AuditEntry).values(list(rows)))

    async def page(self, *, media_id: str, owner_id: str | None, before_id: int | None, limit: int) -> list[AuditEntry]:
        """Newest first; ``owner_id`` scopes to one owner (None: any, for service callers)."""
        stmt = select(AuditEntry).where(AuditEntry.media_id == media_id)
        if owner_id is not None:
            stmt = stmt.where(AuditEntry.owner_id == owner_id)
        if before_id is not None:
            stmt = stmt.where(AuditEntry.id < before_id)
        stmt = stmt.order_by(AuditEntry.id.desc()).limit(limit)
        return list((await self.session.execute(stmt)).scalars())
