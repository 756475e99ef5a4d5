"""Who may see a file: its owner, or a service acting on its own account. Anyone else gets
NOT_FOUND, the same answer as for a file that does not exist."""

from __future__ import annotations

import uuid

from lectern_common.identity import Identity

from lectern_media.errors import media_not_found
from lectern_media.library.repository import MediaRepository
from lectern_media.library.schemas import MediaStatus, MediaView
from lectern_media.models import MediaFile


def is_media_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError):
        return False
    return True


async def find_owned(repo: MediaRepository, identity: Identity, media_id: str, *, lock: bool = False) -> MediaFile:
    """The file if ``identity`` may act on it; otherwise NOT_FOUND (ids that are not uuids too)."""
    if not is_media_id(media_id):
        raise media_not_found(media_id)
    media = await repo.get(media_id, lock=lock)
    if media is None or not (identity.is_service or media.owner_id == identity.user_id):
        raise media_not_found(media_id)
    return media


def to_view(media: MediaFile) -> MediaView:
    return MediaView(
        id=str(media.id),
        owner_id=media.owner_id,
        title=media.title,
        file_name=media.file_name,
        mime_type=media.mime_type,
        size_bytes=media.size_bytes,
        checksum=media.checksum,
        status=MediaStatus(media.status),
        usage_count=media.usage_count,
        version=media.version,
        created_at=media.created_at,
        deleted_at=media.deleted_at,
        duration_seconds=media.duration_seconds,
        error=media.error,
        probe=media.probe,
    )
