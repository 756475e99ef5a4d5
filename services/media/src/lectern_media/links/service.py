"""Links between files and course content: link, unlink, usage, and the cascades course events
cause. Every change updates the file's usage count and writes an audit row and an event in the
same transaction."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from lectern.events.v1.event_types import MEDIA_LINK_ADDED, MEDIA_LINK_REMOVED
from lectern_common.identity import Identity
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.audit.repository import AuditAction, AuditRepository
from lectern_media.course_directory import CourseDirectory
from lectern_media.errors import invalid, link_target_forbidden, link_target_not_found, media_deleted
from lectern_media.events import MediaEvents
from lectern_media.library.access import find_owned, is_media_id
from lectern_media.library.repository import MediaRepository
from lectern_media.links.repository import LinkRepository
from lectern_media.links.schemas import LinkView, ResourceRef, ResourceType, Usage
from lectern_media.models import MediaFile

log = logging.getLogger(__name__)

MAX_RESOURCE_ID_LENGTH = 200


class LinkReason:
    USER = "user"
    SOFT_DELETE = "soft_delete"
    TARGET_DELETED = "target_deleted"
    RESTORE = "restore"
    COURSE_RESTORED = "course_restored"
    LESSON_MEDIA = "lesson_media"


def check_ref(resource_type: ResourceType | None, resource_id: str) -> ResourceRef:
    """A link target from user input, or a VALIDATION_FAILED naming the bad field."""
    fields: dict[str, str] = {}
    if resource_type is None:
        fields["resourceType"] = "must be course, chapter or lesson"
    rid = resource_id.strip()
    if not rid:
        fields["resourceId"] = "is required"
    elif len(rid) > MAX_RESOURCE_ID_LENGTH:
        fields["resourceId"] = f"must be at most {MAX_RESOURCE_ID_LENGTH} characters"
    if fields:
        raise invalid("link_target", fields)
    assert resource_type is not None
    return ResourceRef(resource_type, rid)


def audit_row(link: LinkView, owner_id: str, action: str, actor_id: str, reason: str) -> dict[str, object]:
    return {
        "media_id": link.media_id,
        "owner_id": owner_id,
        "action": action,
        "actor_id": actor_id,
        "details": {
            "resourceType": link.resource_type.value,
            "resourceId": link.resource_id,
            "courseId": link.course_id,
            "reason": reason,
        },
    }


class LinkService:
    def __init__(self, directory: CourseDirectory, events: MediaEvents) -> None:
        self._directory = directory
        self._events = events

    async def link(self, session: AsyncSession, identity: Identity, media_id: str, ref: ResourceRef) -> LinkView:
        """Link the caller's file to a course, chapter or lesson they may edit (course decides).
        Linking twice answers the existing link and changes nothing."""
        repo = MediaRepository(session)
        media = await find_owned(repo, identity, media_id)
        if media.deleted_at is not None:
            raise media_deleted(media.id)
        # Ask course before taking the row lock, so a slow peer never holds up deletes of this file.
        target = (await self._directory.resolve(identity, [ref])).get(ref)
        if target is None or not target.exists:
            raise link_target_not_found(ref.resource_type.value, ref.resource_id)
        if not target.can_edit:
            raise link_target_forbidden(ref.resource_type.value, ref.resource_id)
        # The same lock hard delete and soft delete take: a link can't slip in beside a delete.
        media = await find_owned(repo, identity, media_id, lock=True)
        if media.deleted_at is not None:
            raise media_deleted(media.id)
        links = LinkRepository(session)
        inserted = await links.insert_many(
            [
                {
                    "media_id": media.id,
                    "resource_type": ref.resource_type.value,
                    "resource_id": ref.resource_id,
                    "course_id": target.course_id,
                    "linked_by": identity.user_id,
                }
            ]
        )
        if not inserted:
            existing = await links.get(media.id, ref)
            assert existing is not None
            return existing
        await self._record(session, media, inserted, actor_id=identity.user_id, added=True, reason=LinkReason.USER)
        return inserted[0]

    async def unlink(self, session: AsyncSession, identity: Identity, media_id: str, ref: ResourceRef) -> bool:
        """Remove one link; answers False when there was none (nothing changes then)."""
        media = await find_owned(MediaRepository(session), identity, media_id, lock=True)
        removed = await LinkRepository(session).remove(media.id, ref)
        if removed is None:
            return False
        await self._record(session, media, [removed], actor_id=identity.user_id, added=False, reason=LinkReason.USER)
        return True

    async def usage(self, session: AsyncSession, identity: Identity, media_id: str) -> Usage:
        """How many places use the file, and which."""
        media = await find_owned(MediaRepository(session), identity, media_id)
        links = await LinkRepository(session).for_media(media.id)
        return Usage(count=media.usage_count, links=links)

    async def _record(
        self,
        session: AsyncSession,
        media: MediaFile,
        links: Sequence[LinkView],
        *,
        actor_id: str,
        added: bool,
        reason: str,
    ) -> None:
        """Usage count, audit rows and events for links of one locked file."""
        media.usage_count += len(links) if added else -len(links)
        await session.flush()
        action = AuditAction.LINK if added else AuditAction.UNLINK
        await AuditRepository(session).add_many(
            [audit_row(lk, media.owner_id, action, actor_id, reason) for lk in links]
        )
        for link in links:
            await self._events.link_changed(
                session,
                MEDIA_LINK_ADDED if added else MEDIA_LINK_REMOVED,
                media_id=media.id,
                owner_id=media.owner_id,
                version=media.version,
                resource_type=link.resource_type.value,
                resource_id=link.resource_id,
                course_id=link.course_id,
                usage_count=media.usage_count,
                reason=reason,
                actor_id=actor_id,
            )

    # -- cascades from course events (the course service is the authority on its content) ---------

    async def remove_for_targets(
        self,
        session: AsyncSession,
        *,
        refs: Sequence[ResourceRef],
        course_id: str | None = None,
        actor_id: str,
        keep_tombstones_for: str | None = None,
    ) -> list[LinkView]:
        """Remove every link to ``refs`` (and, with ``course_id``, anywhere in that course), with
        audit rows and events. With ``keep_tombstones_for`` the removed links are remembered so a
        restore of that course brings them back."""
        links = LinkRepository(session)
        candidates = await links.media_ids_for_targets(refs, course_id)
        if not candidates:
            return []
        media_by_id = await MediaRepository(session).lock_live(candidates)
        removed = await links.remove_for_targets(refs, course_id, list(media_by_id))
        if keep_tombstones_for:
            await links.add_tombstones(keep_tombstones_for, removed)
        await self._record_many(
            session, media_by_id, removed, actor_id=actor_id, added=False, reason=LinkReason.TARGET_DELETED
        )
        return removed

    async def restore_course_links(self, session: AsyncSession, *, course_id: str, actor_id: str) -> list[LinkView]:
        """Bring back the links a delete of ``course_id`` removed, for files still live."""
        links = LinkRepository(session)
        media_by_id = await MediaRepository(session).lock_live(await links.tombstone_media_ids(course_id))
        tombstones = await links.take_tombstones(course_id)
        rows = [
            {
                "media_id": t.media_id,
                "resource_type": t.resource_type.value,
                "resource_id": t.resource_id,
                "course_id": t.course_id,
                "linked_by": t.linked_by,
                "linked_at": t.linked_at,
            }
            for t in tombstones
            if t.media_id in media_by_id
        ]
        restored = await links.insert_many(rows)
        await self._record_many(
            session, media_by_id, restored, actor_id=actor_id, added=True, reason=LinkReason.COURSE_RESTORED
        )
        return restored

    async def set_lesson_media(
        self,
        session: AsyncSession,
        *,
        course_id: str,
        lesson_id: str,
        media_id: str | None,
        previous_media_id: str | None,
        actor_id: str,
    ) -> None:
        """Mirror a lesson's media: the lesson link of the previous file goes, one for the new
        file comes. A file that is unknown or deleted gets no link (links are for live files)."""
        if previous_media_id != media_id or previous_media_id is None:
            await self.remove_lesson_link(
                session, lesson_id=lesson_id, media_id=previous_media_id, actor_id=actor_id, keep=media_id
            )
        if not media_id or not is_media_id(media_id):
            return
        media_by_id = await MediaRepository(session).lock_live([media_id])
        if media_id not in media_by_id:
            log.info("lesson %s names media %s, which is unknown or deleted: no link", lesson_id, media_id)
            return
        added = await LinkRepository(session).insert_many(
            [
                {
                    "media_id": media_id,
                    "resource_type": ResourceType.LESSON.value,
                    "resource_id": lesson_id,
                    "course_id": course_id,
                    "linked_by": actor_id,
                }
            ]
        )
        await self._record_many(
            session, media_by_id, added, actor_id=actor_id, added=True, reason=LinkReason.LESSON_MEDIA
        )

    async def remove_lesson_link(
        self, session: AsyncSession, *, lesson_id: str, media_id: str | None, actor_id: str, keep: str | None = None
    ) -> None:
        """Remove the lesson's link to ``media_id`` (or to any file but ``keep`` when None)."""
        if media_id and not is_media_id(media_id):
            return
        links = LinkRepository(session)
        ref = ResourceRef(ResourceType.LESSON, lesson_id)
        candidates = [media_id] if media_id else await links.media_ids_for_targets([ref], None)
        candidates = [c for c in candidates if c != keep or media_id]
        media_by_id = await MediaRepository(session).lock_live(candidates)
        removed = []
        for mid in media_by_id:
            link = await links.remove(mid, ref)
            if link is not None:
                removed.append(link)
        await self._record_many(
            session, media_by_id, removed, actor_id=actor_id, added=False, reason=LinkReason.LESSON_MEDIA
        )

    async def _record_many(
        self,
        session: AsyncSession,
        media_by_id: dict[str, MediaFile],
        links: Sequence[LinkView],
        *,
        actor_id: str,
        added: bool,
        reason: str,
    ) -> None:
        per_media: dict[str, list[LinkView]] = {}
        for link in links:
            per_media.setdefault(link.media_id, []).append(link)
        for mid, its_links in sorted(per_media.items()):
            await self._record(session, media_by_id[mid], its_links, actor_id=actor_id, added=added, reason=reason)


def count_by_course(links: Sequence[LinkView]) -> Counter[str]:
    return Counter(link.course_id for link in links)
