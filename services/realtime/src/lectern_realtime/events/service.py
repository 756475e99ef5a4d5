"""Durable facts from Kafka → the messages that tell browsers which caches to refresh.

Pure mapping, no I/O: an :class:`Event` in, a list of (channel, message) out. Channel rule
(API.md §2): anything about a course goes to ``course:<courseId>``; an upload (or library file)
without a course goes to ``user:<ownerId>``. ``invalidate`` names the client caches to refetch:
``videos`` (the media library / video list) and ``chapters`` (the course's chapter list, whose
lessons show their media), the seed's "dual cache update".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from lectern.events.v1 import course_events_pb2, event_types, media_events_pb2, upload_events_pb2
from lectern_common.events import Event

from lectern_realtime.channels.schemas import Channel


@dataclass(frozen=True)
class Outgoing:
    channel: str
    message: dict[str, Any]


_UPLOAD_FAILURES = {
    event_types.UPLOAD_FAILED: "upload failed",
    event_types.UPLOAD_EXPIRED: "upload expired",
    event_types.UPLOAD_CANCELLED: "upload cancelled",
}

_COURSE_PAYLOADS: dict[str, type[Message]] = {
    event_types.COURSE_CREATED: course_events_pb2.CourseChanged,
    event_types.COURSE_UPDATED: course_events_pb2.CourseChanged,
    event_types.COURSE_DELETED: course_events_pb2.CourseLifecycleChanged,
    event_types.COURSE_RESTORED: course_events_pb2.CourseLifecycleChanged,
    event_types.COURSE_CHAPTER_ADDED: course_events_pb2.ChapterChanged,
    event_types.COURSE_CHAPTER_MOVED: course_events_pb2.ChapterChanged,
    event_types.COURSE_CHAPTER_RENAMED: course_events_pb2.ChapterChanged,
    event_types.COURSE_CHAPTER_REMOVED: course_events_pb2.ChapterRemoved,
    event_types.COURSE_LESSON_ADDED: course_events_pb2.LessonChanged,
    event_types.COURSE_LESSON_MOVED: course_events_pb2.LessonChanged,
    event_types.COURSE_LESSON_RENAMED: course_events_pb2.LessonChanged,
    event_types.COURSE_LESSON_REMOVED: course_events_pb2.LessonRemoved,
    event_types.COURSE_LESSON_MEDIA_SET: course_events_pb2.LessonMediaChanged,
    event_types.COURSE_LESSON_MEDIA_CLEARED: course_events_pb2.LessonMediaChanged,
}


def _target(course_id: str | None, owner_id: str) -> str:
    return Channel.course(course_id).name if course_id else Channel.user(owner_id).name


def _invalidate(channel: str, resources: list[str], course_id: str | None) -> Outgoing:
    message: dict[str, Any] = {"type": "invalidate", "data": {"resources": resources}}
    if course_id:
        message["courseId"] = course_id
    return Outgoing(channel, message)


class EventTranslator:
    """Maps one event to the messages it causes (often none)."""

    def __init__(self, *, upload_topic: str, media_topic: str, course_topic: str) -> None:
        self._by_topic = {upload_topic: self._upload, media_topic: self._media, course_topic: self._course}

    @property
    def topics(self) -> list[str]:
        return list(self._by_topic)

    def messages_for(self, topic: str, event: Event) -> list[Outgoing]:
        """The messages ``event`` (read from ``topic``) should produce, in the order to publish them."""
        handler = self._by_topic.get(topic)
        return handler(event) if handler else []

    def _upload(self, event: Event) -> list[Outgoing]:
        default_error = _UPLOAD_FAILURES.get(event.type)
        if default_error is None:
            return []  # created/completed: progress and media.file.ready tell the tabs
        upload = event.unpack(upload_events_pb2.UploadChanged)
        course_id = upload.course_id if upload.HasField("course_id") and upload.course_id else None
        message: dict[str, Any] = {
            "type": "upload-failed",
            "operationId": upload.operation_id or event.aggregate_id,
            "data": {
                "error": (upload.error if upload.HasField("error") and upload.error else default_error),
                "status": event.type.removeprefix("upload."),
            },
        }
        if course_id:
            message["courseId"] = course_id
        return [Outgoing(_target(course_id, upload.owner_id), message)]

    def _media(self, event: Event) -> list[Outgoing]:
        if event.type in event_types.MEDIA_FILE_CHANGES:
            return self._media_file(event, event.unpack(media_events_pb2.MediaFileChanged))
        if event.type in {event_types.MEDIA_LINK_ADDED, event_types.MEDIA_LINK_REMOVED}:
            link = event.unpack(media_events_pb2.MediaLinkChanged)
            if not link.course_id:
                return [_invalidate(Channel.user(link.owner_id).name, ["videos"], None)]
            return [_invalidate(Channel.course(link.course_id).name, ["videos"], link.course_id)]
        if event.type in event_types.MEDIA_FILE_LIFECYCLE:
            lifecycle = event.unpack(media_events_pb2.MediaFileLifecycleChanged)
            out = [_invalidate(Channel.user(lifecycle.owner_id).name, ["videos"], None)]
            out += [_invalidate(Channel.course(c).name, ["videos"], c) for c in dict.fromkeys(lifecycle.course_ids)]
            return out
        return []

    def _media_file(self, event: Event, media: media_events_pb2.MediaFileChanged) -> list[Outgoing]:
        course_id = media.course_id if media.HasField("course_id") and media.course_id else None
        from_upload = media.HasField("upload_operation_id") and bool(media.upload_operation_id)
        to_chapter = media.HasField("chapter_id") and bool(media.chapter_id)
        channel = _target(course_id, media.owner_id)
        outcome = self._media_outcome(event.type, media, course_id)
        if from_upload and event.type == event_types.MEDIA_FILE_READY:
            if to_chapter:
                return outcome  # course adds the lesson; its course.lesson.added says upload-complete
            message: dict[str, Any] = {
                "type": "upload-complete",
                "operationId": media.upload_operation_id,
                "data": {"mediaId": media.media_id},
            }
            if course_id:
                message["courseId"] = course_id
            return [*outcome, Outgoing(channel, message)]
        if from_upload and event.type == event_types.MEDIA_FILE_FAILED:
            message = {
                "type": "upload-failed",
                "operationId": media.upload_operation_id,
                "data": {
                    "error": media.error if media.HasField("error") and media.error else "media processing failed",
                    "status": "failed",
                    "mediaId": media.media_id,
                },
            }
            if course_id:
                message["courseId"] = course_id
            return [*outcome, Outgoing(channel, message)]
        return outcome or [_invalidate(channel, ["videos"], course_id)]

    @staticmethod
    def _media_outcome(
        event_type: str, media: media_events_pb2.MediaFileChanged, course_id: str | None
    ) -> list[Outgoing]:
        """``media-ready`` / ``media-failed`` (probing's verdict) to every course the file is in,
        or to its owner's channel when it is in none."""
        kinds = {event_types.MEDIA_FILE_READY: "media-ready", event_types.MEDIA_FILE_FAILED: "media-failed"}
        if event_type not in kinds:
            return []
        data: dict[str, Any] = {"mediaId": media.media_id, "status": media.status, "fileName": media.file_name}
        if event_type == event_types.MEDIA_FILE_READY and media.HasField("duration_seconds"):
            data["durationSeconds"] = media.duration_seconds
        if event_type == event_types.MEDIA_FILE_FAILED:
            data["error"] = media.error if media.HasField("error") and media.error else "media processing failed"
        courses = list(dict.fromkeys([*media.course_ids, *([course_id] if course_id else [])]))
        if not courses:
            return [Outgoing(Channel.user(media.owner_id).name, {"type": kinds[event_type], "data": data})]
        return [
            Outgoing(Channel.course(c).name, {"type": kinds[event_type], "courseId": c, "data": data}) for c in courses
        ]

    def _course(self, event: Event) -> list[Outgoing]:
        payload_type = _COURSE_PAYLOADS.get(event.type)
        if payload_type is None:
            course_id = event.aggregate_id  # the topic's key is the course id
            return [_invalidate(Channel.course(course_id).name, ["chapters"], course_id)] if course_id else []
        payload: Any = event.unpack(payload_type)
        course_id = payload.course_id or event.aggregate_id
        channel = Channel.course(course_id).name
        if (
            event.type == event_types.COURSE_LESSON_ADDED
            and payload.HasField("upload_operation_id")
            and payload.upload_operation_id
        ):
            data: dict[str, Any] = {"lessonId": payload.lesson_id}
            if payload.HasField("media_id") and payload.media_id:
                data = {"mediaId": payload.media_id, **data}
            return [
                Outgoing(
                    channel,
                    {
                        "type": "upload-complete",
                        "courseId": course_id,
                        "operationId": payload.upload_operation_id,
                        "data": data,
                    },
                ),
                _invalidate(channel, ["videos", "chapters"], course_id),
            ]
        return [_invalidate(channel, ["chapters"], course_id)]
