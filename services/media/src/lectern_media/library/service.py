"""The media library: registering uploaded files, listing and searching, reading, renaming."""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from lectern.events.v1.event_types import MEDIA_FILE_REGISTERED, MEDIA_FILE_UPDATED
from lectern_common.identity import Identity
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.audit.repository import AuditAction, AuditRepository
from lectern_media.errors import invalid, media_deleted, version_conflict
from lectern_media.events import MediaEvents
from lectern_media.library.access import find_owned, is_media_id, to_view
from lectern_media.library.repository import MediaRepository
from lectern_media.library.schemas import (
    CompletedUpload,
    ListQuery,
    MediaStatus,
    MediaSummaryView,
    MediaView,
    Page,
)
from lectern_media.links.repository import LinkRepository
from lectern_media.links.schemas import LinkView
from lectern_media.models import MediaFile

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_TITLE_LENGTH = 200
MAX_QUERY_LENGTH = 200
MAX_BATCH_IDS = 500


def encode_cursor(created_at: datetime, media_id: str) -> str:
    raw = json.dumps({"c": created_at.isoformat(), "i": media_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        created_at = datetime.fromisoformat(data["c"])
        media_id = str(uuid.UUID(data["i"]))
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise invalid("cursor", {"cursor": "is not a cursor this service issued"}) from exc
    if created_at.tzinfo is None:
        raise invalid("cursor", {"cursor": "is not a cursor this service issued"})
    return created_at, media_id


def clean_title(title: str) -> str:
    """A title as stored: trimmed, NFC, 1..200 characters, no control characters."""
    cleaned = unicodedata.normalize("NFC", title).strip()
    if not cleaned:
        raise invalid("title", {"title": "must not be empty"})
    if len(cleaned) > MAX_TITLE_LENGTH:
        raise invalid("title", {"title": f"must be at most {MAX_TITLE_LENGTH} characters"})
    if any(unicodedata.category(ch) == "Cc" for ch in cleaned):
        raise invalid("title", {"title": "must not contain control characters"})
    return cleaned


def check_page_size(limit: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if limit == 0:
        return default
    if limit < 0 or limit > maximum:
        raise invalid("limit", {"limit": f"must be between 1 and {maximum}"})
    return limit


class ProbeQueue(Protocol):
    async def enqueue(self, session: AsyncSession, media: MediaFile, upload: CompletedUpload) -> None: ...


class LibraryService:
    def __init__(self, events: MediaEvents, probing: ProbeQueue) -> None:
        self._events = events
        self._probing = probing

    async def register_upload(self, session: AsyncSession, upload: CompletedUpload, *, actor_id: str) -> MediaView:
        """Make a media file from a completed upload, once per upload id.

        The file starts ``processing`` (media.file.registered) with a probe job in the same
        transaction; the probe worker makes it ``ready`` or ``failed`` later (probing/), off this
        path. A repeated upload id answers the file it already made and emits nothing.
        """
        repo = MediaRepository(session)
        now = datetime.now(UTC)
        media = await repo.insert_if_new_upload(
            {
                "id": str(uuid.uuid4()),
                "owner_id": upload.owner_id,
                "title": _title_from_upload(upload),
                "file_name": upload.file_name[:255] or "untitled",
                "mime_type": upload.mime_type or "application/octet-stream",
                "size_bytes": max(upload.size_bytes, 0),
                "checksum": upload.checksum,
                "bucket": upload.bucket,
                "storage_key": upload.storage_key,
                "status": MediaStatus.PROCESSING.value,
                "version": 1,
                "upload_operation_id": upload.operation_id,
                "created_at": now,
                "updated_at": now,
            }
        )
        if media is None:
            existing = await repo.get_by_upload(upload.operation_id)
            assert existing is not None  # the conflict that skipped the insert is this row
            return to_view(existing)
        await self._events.file_changed(session, MEDIA_FILE_REGISTERED, media, actor_id=actor_id, upload=upload)
        await AuditRepository(session).add(
            media_id=media.id,
            owner_id=media.owner_id,
            action=AuditAction.REGISTER,
            actor_id=actor_id,
            details={"uploadOperationId": upload.operation_id, "sizeBytes": media.size_bytes},
        )
        await self._probing.enqueue(session, media, upload)
        return to_view(media)

    async def list_media(self, session: AsyncSession, identity: Identity, query: ListQuery) -> Page[MediaView]:
        """The caller's files, newest first, optionally searched by title/file name and filtered."""
        limit = check_page_size(query.limit)
        text = query.query.strip()
        if len(text) > MAX_QUERY_LENGTH:
            raise invalid("query", {"query": f"must be at most {MAX_QUERY_LENGTH} characters"})
        after = decode_cursor(query.cursor) if query.cursor else None
        rows = await MediaRepository(session).page(
            owner_id=identity.user_id,
            query=text,
            status=query.status.value if query.status else None,
            include_deleted=query.include_deleted,
            after=after,
            limit=limit + 1,
        )
        items = [to_view(m) for m in rows[:limit]]
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else ""
        return Page(items=items, next_cursor=next_cursor)

    async def get(self, session: AsyncSession, identity: Identity, media_id: str) -> tuple[MediaView, list[LinkView]]:
        """One file with every place it is linked."""
        media = await find_owned(MediaRepository(session), identity, media_id)
        return to_view(media), await LinkRepository(session).for_media(media.id)

    async def rename(
        self, session: AsyncSession, identity: Identity, media_id: str, *, expected_version: int, title: str | None
    ) -> MediaView:
        """Change the title if the file is still at ``expected_version``; a stale version is a
        CONFLICT carrying the current version and state."""
        if expected_version <= 0:
            raise invalid("expected_version", {"expectedVersion": "is required (the version you read)"})
        new_title = clean_title(title) if title is not None else None
        repo = MediaRepository(session)
        media = await find_owned(repo, identity, media_id, lock=True)
        if media.version != expected_version:
            raise version_conflict(media.version, to_view(media).to_api())
        if media.deleted_at is not None:
            raise media_deleted(media.id)
        if new_title is None or new_title == media.title:
            return to_view(media)
        old_title = media.title
        media.title = new_title
        media.version += 1
        media.updated_at = datetime.now(UTC)
        await session.flush()
        await AuditRepository(session).add(
            media_id=media.id,
            owner_id=media.owner_id,
            action=AuditAction.RENAME,
            actor_id=identity.user_id,
            details={"from": old_title, "to": new_title, "version": media.version},
        )
        await self._events.file_changed(session, MEDIA_FILE_UPDATED, media, actor_id=identity.user_id)
        return to_view(media)

    async def summaries(
        self, session: AsyncSession, identity: Identity, media_ids: Sequence[str]
    ) -> list[MediaSummaryView]:
        """Summaries of live files for course's editor view: the caller's own, or any for a service.
        Unknown, foreign and deleted ids are left out."""
        if len(media_ids) > MAX_BATCH_IDS:
            raise invalid("media_ids", {"mediaIds": f"at most {MAX_BATCH_IDS} ids per call"})
        ids = sorted({m for m in media_ids if is_media_id(m)})
        if not ids:
            return []
        owner = None if identity.is_service else identity.user_id
        rows = await MediaRepository(session).many(ids, owner_id=owner)
        return [
            MediaSummaryView(
                id=str(m.id),
                file_name=m.file_name,
                status=MediaStatus(m.status),
                size_bytes=m.size_bytes,
                duration_seconds=m.duration_seconds,
            )
            for m in rows
        ]


def _title_from_upload(upload: CompletedUpload) -> str:
    base = (upload.lesson_title or "").strip() or upload.file_name.rsplit(".", 1)[0].strip() or upload.file_name
    return (base or "untitled")[:MAX_TITLE_LENGTH]
