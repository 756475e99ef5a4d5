"""Per-user limits on what uploads may hold: how many are in progress, and how many bytes."""

from __future__ import annotations

from lectern_upload import errors
from lectern_upload.settings import UploadSettings
from lectern_upload.uploads.repository import UploadRepository


class UploadQuota:
    """Checked with the owner locked (``UploadRepository.lock_owner``), so limits can't be raced."""

    def __init__(self, settings: UploadSettings) -> None:
        self._settings = settings

    async def check_new(self, repo: UploadRepository, owner_id: str, size: int | None) -> None:
        """A new upload: within the concurrent-upload limit, and its bytes within the quota.

        Upload-Defer-Length: the length is unknown until a later PATCH, and the upload may grow to
        max_upload_bytes meanwhile, so that much is reserved until the length is declared.
        """
        s = self._settings
        active = await repo.count_active(owner_id)
        if active >= s.max_concurrent_uploads_per_user:
            raise errors.quota_exceeded(
                "upload.too_many_concurrent",
                f"at most {s.max_concurrent_uploads_per_user} uploads may be in progress at once",
                {"active": active, "limit": s.max_concurrent_uploads_per_user},
            )
        await self.check_bytes(repo, owner_id, size if size is not None else s.max_upload_bytes)

    async def check_bytes(
        self, repo: UploadRepository, owner_id: str, requested: int, *, excluding: str | None = None
    ) -> None:
        """``requested`` more bytes fit the owner's quota (``excluding``: the upload they are for)."""
        s = self._settings
        used = await repo.bytes_used(owner_id, deferred_reservation=s.max_upload_bytes, excluding=excluding)
        if used + requested > s.user_quota_bytes:
            raise errors.quota_exceeded(
                "upload.quota_exceeded",
                "this upload would exceed your storage quota",
                {"usedBytes": used, "quotaBytes": s.user_quota_bytes, "requestedBytes": requested},
            )
