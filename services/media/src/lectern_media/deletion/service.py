"""Delete protection, dry runs, soft delete with a snapshot of the file's links, restore and purge
(the bytes of removed files go through deletion.objects).

Every path that removes a file or adds a link locks the file's row first (SELECT ... FOR UPDATE),
so a link and a hard delete of the same file are serialized: either the delete sees the link and
refuses, or the link finds no file. The links' foreign key (ON DELETE RESTRICT) backs this up.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from lectern.events.v1.event_types import (
    MEDIA_FILE_HARD_DELETED,
    MEDIA_FILE_PURGED,
    MEDIA_FILE_RESTORED,
    MEDIA_FILE_SOFT_DELETED,
)
from lectern_common.db import UnitOfWork
from lectern_common.errors import DomainError
from lectern_common.identity import Identity
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.audit.repository import AuditAction, AuditRepository
from lectern_media.course_directory import CourseDirectory, ResolvedTarget
from lectern_media.deletion.objects import ObjectDeletions, ObjectStores
from lectern_media.deletion.repository import ObjectDeletionRepository, SnapshotRepository
from lectern_media.deletion.schemas import (
    AffectedCourse,
    DeleteMode,
    DeleteRequest,
    DeletionAnswer,
    DeletionOutcome,
    RestoreOutcome,
    SkippedLink,
    SkipReason,
)
from lectern_media.errors import MAX_LINKS_IN_DETAILS, has_dependencies, invalid, media_deleted, media_not_deleted
from lectern_media.events import MediaEvents
from lectern_media.library.access import find_owned, to_view
from lectern_media.library.repository import MediaRepository
from lectern_media.links.repository import LinkRepository
from lectern_media.links.schemas import LinkView, ResourceRef, ResourceType
from lectern_media.models import MediaFile

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:media"
R = TypeVar("R")


class DeletionService:
    def __init__(
        self,
        directory: CourseDirectory,
        events: MediaEvents,
        object_stores: ObjectStores,
        *,
        uow: UnitOfWork,
        retention: timedelta,
        object_call_timeout: float = 30.0,
    ) -> None:
        self._directory = directory
        self._events = events
        self._uow = uow
        self.objects = ObjectDeletions(uow, object_stores, call_timeout=object_call_timeout)
        self.retention = retention

    async def run_delete(self, identity: Identity, request: DeleteRequest, answer: DeletionAnswer[R]) -> R:
        """DeleteMedia in the transaction it needs, answered as ``answer`` words it.

        A dry run changes nothing: it reads in a read-only transaction, and its idempotency key is
        neither replayed nor kept. A delete writes in one transaction with its key (a repeat answers
        the first answer). The answer comes at the commit: a hard delete's bytes are deleted after
        it, in the background, so a slow or failing object store never fails a committed delete.
        """
        if request.dry_run:
            async with self._uow.read_only() as session:
                return answer(await self.preview(session, identity, request.media_id, mode=request.mode))
        async with self._uow() as session:
            first = await answer.replay(session)
            if first is not None:
                return first
            outcome = await self.delete(session, identity, request.media_id, mode=request.mode, force=request.force)
            reply = answer(outcome)
            await answer.remember(session, reply)
        if request.mode is DeleteMode.HARD:
            self.objects.start_after_delete()  # the row is gone and its bytes are queued
        return reply

    async def preview(
        self, session: AsyncSession, identity: Identity, media_id: str, *, mode: DeleteMode | None
    ) -> DeletionOutcome:
        """What deleting the file would do, changing nothing. It never refuses: it lists the links
        that would go (or that block a hard delete), the courses they sit in with their publish
        state, and the bytes a hard delete frees."""
        mode = _require_mode(mode)
        media = await find_owned(MediaRepository(session), identity, media_id)
        links = await LinkRepository(session).for_media(media.id)
        return DeletionOutcome(
            media=to_view(media),
            removed_links=links,
            affected_courses=await self._affected_courses(identity, links, strict=True),
            bytes_reclaimed=media.size_bytes if mode is DeleteMode.HARD else None,
            dry_run=True,
        )

    async def delete(
        self, session: AsyncSession, identity: Identity, media_id: str, *, mode: DeleteMode | None, force: bool = False
    ) -> DeletionOutcome:
        """Soft or hard delete a file.

        Hard delete is refused with HAS_DEPENDENCIES while any link exists. Soft delete of a linked
        file needs ``force``; it snapshots the links (for restore), removes them and records it.
        """
        mode = _require_mode(mode)
        media = await find_owned(MediaRepository(session), identity, media_id, lock=True)
        links = LinkRepository(session)
        # Counted from the links themselves (not usage_count): protection never trusts a counter.
        # No link can be added meanwhile: adding one needs the row lock this transaction holds.
        link_count = await links.count_for_media(media.id)
        if mode is DeleteMode.HARD:
            if link_count:
                raise await _in_use(links, media.id, link_count, "unlink it first")
            return await self._hard_delete(session, identity, media)
        if media.deleted_at is not None:
            raise media_deleted(media.id)
        if link_count and not force:
            raise await _in_use(links, media.id, link_count, "pass force to remove those links")
        return await self._soft_delete(session, identity, media, force=force)

    async def _hard_delete(self, session: AsyncSession, identity: Identity, media: MediaFile) -> DeletionOutcome:
        view = to_view(media)
        await AuditRepository(session).add(
            media_id=media.id,
            owner_id=media.owner_id,
            action=AuditAction.HARD_DELETE,
            actor_id=identity.user_id,
            details={"sizeBytes": media.size_bytes, "wasSoftDeleted": media.deleted_at is not None},
        )
        await self._events.lifecycle(session, MEDIA_FILE_HARD_DELETED, media, course_ids=(), actor_id=identity.user_id)
        await ObjectDeletionRepository(session).enqueue(
            media_id=media.id, bucket=media.bucket, storage_key=media.storage_key
        )
        # The links' foreign key (RESTRICT) would refuse this if a link existed after all.
        await MediaRepository(session).delete(media.id)
        return DeletionOutcome(
            media=view, removed_links=[], affected_courses=[], bytes_reclaimed=media.size_bytes, dry_run=False
        )

    async def _soft_delete(
        self, session: AsyncSession, identity: Identity, media: MediaFile, *, force: bool
    ) -> DeletionOutcome:
        # One pass: the links are deleted and returned, and the snapshot is made from what went.
        removed = await LinkRepository(session).remove_all_for_media(media.id)
        snapshot_id = await SnapshotRepository(session).add(
            media_id=media.id, taken_by=identity.user_id, links=[link.to_api() for link in removed]
        )
        course_ids = sorted({link.course_id for link in removed})
        now = datetime.now(UTC)
        media.usage_count = 0
        media.deleted_at = now
        media.deleted_by = identity.user_id
        media.version += 1
        media.updated_at = now
        await session.flush()
        affected = await self._affected_courses(identity, removed, strict=False)
        await AuditRepository(session).add(
            media_id=media.id,
            owner_id=media.owner_id,
            action=AuditAction.SOFT_DELETE,
            actor_id=identity.user_id,
            details={
                "force": force,
                "snapshotId": snapshot_id,
                "removedLinks": len(removed),
                "courseIds": course_ids,
                # What the author was told before deleting: which of the courses learners could see.
                "courses": [course.to_audit() for course in affected],
            },
        )
        # One event for the whole removal: it names the courses, so their caches can refresh.
        await self._events.lifecycle(
            session, MEDIA_FILE_SOFT_DELETED, media, course_ids=course_ids, actor_id=identity.user_id
        )
        return DeletionOutcome(
            media=to_view(media), removed_links=removed, affected_courses=affected, bytes_reclaimed=None, dry_run=False
        )

    async def restore(
        self, session: AsyncSession, identity: Identity, media_id: str, *, restore_links: bool
    ) -> RestoreOutcome:
        """Bring a soft-deleted file back; with ``restore_links``, re-create the links of its
        deletion snapshot whose targets still exist and are editable (course decides), and report
        each one skipped with the reason."""
        repo = MediaRepository(session)
        media = await find_owned(repo, identity, media_id)
        if media.deleted_at is None:
            raise media_not_deleted(media.id)
        snapshot = await SnapshotRepository(session).latest_unconsumed(media.id)
        wanted = [LinkView.from_api(d) for d in snapshot.links] if (snapshot and restore_links) else []
        resolved: dict[ResourceRef, ResolvedTarget] = {}
        if wanted:
            # Asked before the row lock, like link: a slow peer must not hold the file.
            resolved = await self._directory.resolve(identity, [link.ref for link in wanted])

        media = await find_owned(repo, identity, media_id, lock=True)
        if media.deleted_at is None:
            raise media_not_deleted(media.id)  # a concurrent restore won
        restored, skipped = await _relink(session, identity, media, wanted, resolved)
        now = datetime.now(UTC)
        media.deleted_at = None
        media.deleted_by = None
        media.usage_count += len(restored)
        media.version += 1
        media.updated_at = now
        await session.flush()
        await SnapshotRepository(session).consume_all(media.id, now)
        await AuditRepository(session).add(
            media_id=media.id,
            owner_id=media.owner_id,
            action=AuditAction.RESTORE,
            actor_id=identity.user_id,
            details={
                "restoreLinks": restore_links,
                "snapshotId": snapshot.id if snapshot else None,
                "restoredLinks": len(restored),
                "skippedLinks": [{**s.link.to_api(), "reason": s.reason.value} for s in skipped][:100],
                "skippedCount": len(skipped),
            },
        )
        await self._events.lifecycle(
            session,
            MEDIA_FILE_RESTORED,
            media,
            course_ids=[link.course_id for link in restored],
            actor_id=identity.user_id,
        )
        return RestoreOutcome(media=to_view(media), restored_links=restored, skipped_links=skipped)

    async def purge_expired(self, session: AsyncSession, *, now: datetime, limit: int) -> list[str]:
        """Hard-delete up to ``limit`` files soft-deleted longer than the retention. Rows another
        purge holds are skipped (FOR UPDATE SKIP LOCKED), so concurrent runs never purge a file twice.
        The bytes go to the object-deletion queue in the same transaction."""
        repo = MediaRepository(session)
        links = LinkRepository(session)
        audit = AuditRepository(session)
        purged: list[str] = []
        for media in await repo.lock_purgeable(deleted_before=now - self.retention, limit=limit):
            if await links.count_for_media(media.id):
                # Cannot happen through this service (deleted files take no links); never force it.
                log.error("purge: media %s is deleted but has links; leaving it", media.id)
                continue
            await audit.add(
                media_id=media.id,
                owner_id=media.owner_id,
                action=AuditAction.PURGE,
                actor_id=SYSTEM_ACTOR,
                details={
                    "sizeBytes": media.size_bytes,
                    "deletedAt": media.deleted_at.isoformat() if media.deleted_at else None,
                    "retentionDays": self.retention / timedelta(days=1),
                },
            )
            await self._events.lifecycle(session, MEDIA_FILE_PURGED, media, course_ids=(), actor_id=SYSTEM_ACTOR)
            await ObjectDeletionRepository(session).enqueue(
                media_id=media.id, bucket=media.bucket, storage_key=media.storage_key
            )
            await repo.delete(media.id)
            purged.append(str(media.id))
        return purged

    async def _affected_courses(
        self, identity: Identity, links: Sequence[LinkView], *, strict: bool
    ) -> list[AffectedCourse]:
        """Courses the links sit in, with title and publish state from course. ``strict`` (dry run)
        lets a course failure surface; after a real delete it only costs the titles."""
        counts = Counter(link.course_id for link in links)
        if not counts:
            return []
        refs = [ResourceRef(ResourceType.COURSE, cid) for cid in sorted(counts)]
        try:
            resolved = await self._directory.resolve(identity, refs)
        except DomainError:
            if strict:
                raise
            log.warning("course unavailable: affected courses answered without titles", exc_info=True)
            resolved = {}
        out = []
        for ref in refs:
            target = resolved.get(ref)
            out.append(
                AffectedCourse(
                    course_id=ref.resource_id,
                    title=target.course_title if target else "",
                    published=bool(target and target.course_published),
                    link_count=counts[ref.resource_id],
                    resolved=ref in resolved,
                )
            )
        return out


def _require_mode(mode: DeleteMode | None) -> DeleteMode:
    if mode is None:
        raise invalid("mode", {"mode": "must be soft or hard"})
    return mode


async def _in_use(links: LinkRepository, media_id: str, link_count: int, remedy: str) -> DomainError:
    """HAS_DEPENDENCIES for a file still linked, with its first links in the details."""
    first = await links.first_for_media(media_id, MAX_LINKS_IN_DETAILS)
    return has_dependencies(
        f"media {media_id} is used in {link_count} place(s); {remedy}", [link.to_api() for link in first], link_count
    )


async def _relink(
    session: AsyncSession,
    identity: Identity,
    media: MediaFile,
    wanted: list[LinkView],
    resolved: dict[ResourceRef, ResolvedTarget],
) -> tuple[list[LinkView], list[SkippedLink]]:
    """Re-create the snapshot's links whose targets exist and are editable; the rest are skipped,
    each with its reason (a link already there again is skipped as already linked)."""
    skipped: list[SkippedLink] = []
    rows = []
    for link in wanted:
        target = resolved.get(link.ref)
        if target is None or not target.exists:
            skipped.append(SkippedLink(link, SkipReason.TARGET_DELETED))
        elif not target.can_edit:
            skipped.append(SkippedLink(link, SkipReason.NOT_EDITABLE))
        else:
            rows.append(
                {
                    "media_id": media.id,
                    "resource_type": link.resource_type.value,
                    "resource_id": link.resource_id,
                    "course_id": target.course_id or link.course_id,
                    "linked_by": identity.user_id,
                }
            )
    restored = await LinkRepository(session).insert_many(rows)
    restored_refs = {link.ref for link in restored}
    skipped_refs = {s.link.ref for s in skipped}
    skipped += [
        SkippedLink(link, SkipReason.ALREADY_LINKED)
        for link in wanted
        if link.ref not in restored_refs and link.ref not in skipped_refs
    ]
    return restored, skipped
