"""Reading a file's audit trail (writing happens where each change happens)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lectern_common.identity import Identity
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.audit.repository import AuditRepository
from lectern_media.errors import invalid, media_not_found
from lectern_media.library.access import is_media_id
from lectern_media.library.schemas import Page
from lectern_media.library.service import check_page_size

MAX_AUDIT_PAGE = 200


@dataclass(frozen=True)
class AuditView:
    action: str
    actor: str
    at: datetime
    details: dict[str, Any]


class AuditService:
    async def page(
        self, session: AsyncSession, identity: Identity, media_id: str, *, cursor: str, limit: int
    ) -> Page[AuditView]:
        """The file's history, newest first. It outlives the file (a purged file's history stays
        readable by its owner); another user's file is NOT_FOUND."""
        size = check_page_size(limit, default=50, maximum=MAX_AUDIT_PAGE)
        before: int | None = None
        if cursor:
            if not cursor.isdigit():
                raise invalid("cursor", {"cursor": "is not a cursor this service issued"})
            before = int(cursor)
        if not is_media_id(media_id):
            raise media_not_found(media_id)
        owner = None if identity.is_service else identity.user_id
        rows = await AuditRepository(session).page(media_id=media_id, owner_id=owner, before_id=before, limit=size + 1)
        if not rows and before is None:
            raise media_not_found(media_id)  # every file has a "register" row; none means not yours
        items = [AuditView(action=r.action, actor=r.actor_id, at=r.at, details=r.details) for r in rows[:size]]
        next_cursor = str(rows[size - 1].id) if len(rows) > size else ""
        return Page(items=items, next_cursor=next_cursor)
