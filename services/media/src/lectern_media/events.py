"""The events media publishes (topic lectern.media.v1, key = media id), always through the outbox so
they commit with the change they describe. Event types are the constants of
``lectern.events.v1.event_types``."""

from __future__ import annotations

from collections.abc import Iterable

from lectern.events.v1 import media_events_pb2
from lectern_common.events import MEDIA_TOPIC
from lectern_common.outbox import OutboxWriter
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.library.schemas import CompletedUpload
from lectern_media.models import MediaFile


class MediaEvents:
    """Builds each event's payload from the row it describes and writes it to the outbox."""

    def __init__(self, outbox: OutboxWriter, *, topic: str = MEDIA_TOPIC) -> None:
        self._outbox = outbox
        self._topic = topic

    async def file_changed(
        self,
        session: AsyncSession,
        event_type: str,
        media: MediaFile,
        *,
        actor_id: str,
        upload: CompletedUpload | None = None,
        course_ids: Iterable[str] = (),
    ) -> None:
        payload = media_events_pb2.MediaFileChanged(
            media_id=media.id,
            owner_id=media.owner_id,
            title=media.title,
            file_name=media.file_name,
            mime_type=media.mime_type,
            size_bytes=media.size_bytes,
            status=media.status,
            checksum=media.checksum,
            version=media.version,
        )
        if media.duration_seconds is not None:
            payload.duration_seconds = media.duration_seconds
        if media.error:
            payload.error = media.error
        payload.course_ids.extend(sorted(set(course_ids)))
        if media.probe:
            probe = media_events_pb2.ProbedMedia(container=str(media.probe.get("container", "")))
            for name in ("width", "height", "video_codec", "audio_codec"):
                if media.probe.get(name) is not None:
                    setattr(probe, name, media.probe[name])
            payload.probe.CopyFrom(probe)
        if upload is not None:
            # Course adds the lesson from these, realtime tells the uploading tabs.
            payload.upload_operation_id = upload.operation_id
            if upload.course_id:
                payload.course_id = upload.course_id
            if upload.chapter_id:
                payload.chapter_id = upload.chapter_id
            if upload.lesson_title:
                payload.lesson_title = upload.lesson_title
        await self._write(session, event_type, media.id, media.version, actor_id, payload)

    async def link_changed(
        self,
        session: AsyncSession,
        event_type: str,
        *,
        media_id: str,
        owner_id: str,
        version: int,
        resource_type: str,
        resource_id: str,
        course_id: str,
        usage_count: int,
        reason: str,
        actor_id: str,
    ) -> None:
        payload = media_events_pb2.MediaLinkChanged(
            media_id=media_id,
            owner_id=owner_id,
            resource_type=resource_type,
            resource_id=resource_id,
            course_id=course_id,
            usage_count=usage_count,
            reason=reason,
        )
        await self._write(session, event_type, media_id, version, actor_id, payload)

    async def lifecycle(
        self,
        session: AsyncSession,
        event_type: str,
        media: MediaFile,
        *,
        course_ids: Iterable[str],
        actor_id: str,
    ) -> None:
        payload = media_events_pb2.MediaFileLifecycleChanged(
            media_id=media.id,
            owner_id=media.owner_id,
            size_bytes=media.size_bytes,
            course_ids=sorted(set(course_ids)),
            version=media.version,
        )
        await self._write(session, event_type, media.id, media.version, actor_id, payload)

    async def _write(
        self, session: AsyncSession, event_type: str, media_id: str, version: int, actor_id: str, payload: object
    ) -> None:
        await self._outbox.add(
            session,
            topic=self._topic,
            event_type=event_type,
            aggregate_id=media_id,
            aggregate_version=version,
            actor_id=actor_id,
            payload=payload,  # type: ignore[arg-type]
        )
