"""Media library actions: input models -> media gRPC requests -> ``data`` models."""

from __future__ import annotations

from typing import Any

from lectern.media.v1 import media_pb2

from lectern_gateway.actions.registry import Action, ActionContext
from lectern_gateway.media import schemas as s
from lectern_gateway.peers import MediaPeer
from lectern_gateway.proto_struct import struct_to_json
from lectern_gateway.proto_time import optional_datetime, to_datetime

_STATUS = {
    media_pb2.MEDIA_STATUS_PROCESSING: "processing",
    media_pb2.MEDIA_STATUS_READY: "ready",
    media_pb2.MEDIA_STATUS_FAILED: "failed",
}
_STATUS_IN = {name: value for value, name in _STATUS.items()}
_RESOURCE = {
    media_pb2.RESOURCE_TYPE_COURSE: "course",
    media_pb2.RESOURCE_TYPE_CHAPTER: "chapter",
    media_pb2.RESOURCE_TYPE_LESSON: "lesson",
}
_RESOURCE_IN = {name: value for value, name in _RESOURCE.items()}
_MODE_IN = {"soft": media_pb2.DELETE_MODE_SOFT, "hard": media_pb2.DELETE_MODE_HARD}


def media_data(media: media_pb2.Media) -> s.Media:
    return s.Media(**_media_fields(media))


def _media_fields(media: media_pb2.Media) -> dict[str, Any]:
    return {
        "id": media.id,
        "title": media.title,
        "file_name": media.file_name,
        "mime_type": media.mime_type,
        "size_bytes": media.size_bytes,
        "checksum": media.checksum,
        "status": _STATUS.get(media.status, "processing"),
        "usage_count": media.usage_count,
        "version": media.version,
        "duration_seconds": media.duration_seconds if media.HasField("duration_seconds") else None,
        "error": media.error if media.HasField("error") else None,
        "probe": _probe(media),
        "created_at": to_datetime(media.created_at),
        "deleted_at": optional_datetime(media, "deleted_at"),
    }


def _probe(media: media_pb2.Media) -> s.MediaProbe | None:
    if not media.HasField("probe"):
        return None
    probe = media.probe

    def optional(name: str) -> Any:
        return getattr(probe, name) if probe.HasField(name) else None  # type: ignore[arg-type]

    return s.MediaProbe(
        container=probe.container,
        duration_seconds=optional("duration_seconds"),
        width=optional("width"),
        height=optional("height"),
        video_codec=optional("video_codec"),
        audio_codec=optional("audio_codec"),
    )


def link_data(link: media_pb2.Link) -> s.Link:
    return s.Link(
        media_id=link.media_id,
        resource_type=_RESOURCE.get(link.resource_type, "course"),  # type: ignore[arg-type]
        resource_id=link.resource_id,
        course_id=link.course_id,
        linked_by=link.linked_by,
        linked_at=to_datetime(link.linked_at),
    )


class MediaActions:
    """The media library actions; the media service holds every rule."""

    def __init__(self, media: MediaPeer) -> None:
        self._media = media

    async def list_media(self, ctx: ActionContext, data: s.ListMediaInput) -> s.MediaList:
        """The caller's files, filtered and paged."""
        request = media_pb2.ListMediaRequest(
            query=data.query or "",
            status=_STATUS_IN[data.status] if data.status else media_pb2.MEDIA_STATUS_UNSPECIFIED,
            include_deleted=data.include_deleted,
            cursor=data.cursor or "",
            limit=data.limit or 0,
        )
        response = await self._media.list_media(request, ctx)
        return s.MediaList(items=[media_data(m) for m in response.items], next_cursor=response.next_cursor or None)

    async def get_media(self, ctx: ActionContext, data: s.MediaIdInput) -> s.MediaWithLinks:
        """One file with its links."""
        response = await self._media.get_media(media_pb2.GetMediaRequest(media_id=data.media_id), ctx)
        return s.MediaWithLinks(**_media_fields(response.media), links=[link_data(link) for link in response.links])

    async def update_media(self, ctx: ActionContext, data: s.UpdateMediaInput) -> s.Media:
        """Rename a file at the version it was read."""
        request = media_pb2.UpdateMediaRequest(
            media_id=data.media_id,
            expected_version=data.expected_version,
            idempotency_key=ctx.service_idempotency_key,
        )
        if data.patch.title is not None:
            request.title = data.patch.title
        response = await self._media.update_media(request, ctx)
        return media_data(response.media)

    async def get_media_usage(self, ctx: ActionContext, data: s.MediaIdInput) -> s.MediaUsage:
        """Where a file is used."""
        response = await self._media.get_media_usage(media_pb2.GetMediaUsageRequest(media_id=data.media_id), ctx)
        return s.MediaUsage(count=response.count, links=[link_data(link) for link in response.links])

    async def link_media(self, ctx: ActionContext, data: s.LinkMediaInput) -> s.Link:
        """Link a file to a course, chapter or lesson the caller may edit."""
        request = media_pb2.LinkMediaRequest(
            media_id=data.media_id,
            resource_type=_RESOURCE_IN[data.resource_type],
            resource_id=data.resource_id,
            idempotency_key=ctx.service_idempotency_key,
        )
        response = await self._media.link_media(request, ctx)
        return link_data(response.link)

    async def unlink_media(self, ctx: ActionContext, data: s.LinkMediaInput) -> s.Unlinked:
        """Remove one link."""
        request = media_pb2.UnlinkMediaRequest(
            media_id=data.media_id,
            resource_type=_RESOURCE_IN[data.resource_type],
            resource_id=data.resource_id,
            idempotency_key=ctx.service_idempotency_key,
        )
        response = await self._media.unlink_media(request, ctx)
        return s.Unlinked(removed=response.removed)

    async def delete_media(self, ctx: ActionContext, data: s.DeleteMediaInput) -> s.DeleteMediaData:
        """Soft or hard delete, protected by links (HAS_DEPENDENCIES); ``dryRun`` only tells."""
        request = media_pb2.DeleteMediaRequest(
            media_id=data.media_id,
            mode=_MODE_IN[data.mode],
            force=data.force,
            dry_run=data.dry_run,
            idempotency_key=ctx.service_idempotency_key,
        )
        response = await self._media.delete_media(request, ctx)
        return s.DeleteMediaData(
            media=media_data(response.media),
            removed_links=[link_data(link) for link in response.removed_links],
            affected_courses=[
                s.AffectedCourse(
                    course_id=course.course_id,
                    title=course.title,
                    published=course.published,
                    link_count=course.link_count,
                )
                for course in response.affected_courses
            ],
            bytes_reclaimed=response.bytes_reclaimed if response.HasField("bytes_reclaimed") else None,
            dry_run=response.dry_run,
        )

    async def restore_media(self, ctx: ActionContext, data: s.RestoreMediaInput) -> s.RestoreMediaData:
        """Bring a soft-deleted file back, and on request the links whose targets still exist."""
        request = media_pb2.RestoreMediaRequest(
            media_id=data.media_id, restore_links=data.restore_links, idempotency_key=ctx.service_idempotency_key
        )
        response = await self._media.restore_media(request, ctx)
        return s.RestoreMediaData(
            media=media_data(response.media),
            restored_links=[link_data(link) for link in response.restored_links],
            skipped_links=[
                s.SkippedLink(link=link_data(item.link), reason=item.reason) for item in response.skipped_links
            ],
        )

    async def get_media_audit(self, ctx: ActionContext, data: s.GetMediaAuditInput) -> s.AuditPage:
        """A file's audit trail, newest first."""
        request = media_pb2.ListMediaAuditRequest(
            media_id=data.media_id, cursor=data.cursor or "", limit=data.limit or 0
        )
        response = await self._media.list_media_audit(request, ctx)
        return s.AuditPage(
            items=[
                s.AuditEntry(
                    action=entry.action,
                    actor=entry.actor,
                    at=to_datetime(entry.at),
                    details=struct_to_json(entry.details) if entry.HasField("details") else {},
                )
                for entry in response.items
            ],
            next_cursor=response.next_cursor or None,
        )

    def actions(self) -> list[Action]:
        tag = "media"
        return [
            Action("listMedia", s.ListMediaInput, s.MediaList, self.list_media, False, "The caller's media.", tag),
            Action("getMedia", s.MediaIdInput, s.MediaWithLinks, self.get_media, False, "A file with its links.", tag),
            Action("updateMedia", s.UpdateMediaInput, s.Media, self.update_media, True, "Rename a file.", tag),
            Action(
                "getMediaUsage", s.MediaIdInput, s.MediaUsage, self.get_media_usage, False, "Where a file is used.", tag
            ),
            Action("linkMedia", s.LinkMediaInput, s.Link, self.link_media, True, "Link a file to a resource.", tag),
            Action("unlinkMedia", s.LinkMediaInput, s.Unlinked, self.unlink_media, True, "Remove a link.", tag),
            Action(
                "deleteMedia",
                s.DeleteMediaInput,
                s.DeleteMediaData,
                self.delete_media,
                True,
                "Soft or hard delete a file (or preview it with dryRun).",
                tag,
            ),
            Action(
                "restoreMedia",
                s.RestoreMediaInput,
                s.RestoreMediaData,
                self.restore_media,
                True,
                "Restore a soft-deleted file.",
                tag,
            ),
            Action(
                "getMediaAudit",
                s.GetMediaAuditInput,
                s.AuditPage,
                self.get_media_audit,
                False,
                "A file's audit trail.",
                tag,
            ),
        ]
