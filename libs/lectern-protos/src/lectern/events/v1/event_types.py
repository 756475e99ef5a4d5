"""Every event type on Lectern's topics, named once for producers and consumers alike.

An event's type (the envelope's ``type``, also the ``lectern-event-type`` header) says which fact it
is and so which payload it packs: the comment above each message in ``protos/lectern/events/v1/``
lists the types that carry it. Consumers route on the type, and a mistyped string there never
matches, so the event is acknowledged and skipped without a word; code names these constants
instead, where a typo is an import or name error.

Hand-written, unlike the ``*_pb2`` modules beside it (``protos/generate.py`` replaces only what
protoc makes). ``libs/lectern-protos/tests/test_event_types.py`` checks these names against the
protos' comments and each topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# Topic names (ARCHITECTURE §3): one per producing service, key = the aggregate's id.
COURSE_TOPIC: Final = "lectern.course.v1"
MEDIA_TOPIC: Final = "lectern.media.v1"
UPLOAD_TOPIC: Final = "lectern.upload.v1"
ENGAGEMENT_TOPIC: Final = "lectern.engagement.v1"

# lectern.course.v1 (course_events.proto)
COURSE_CREATED: Final = "course.created"
COURSE_UPDATED: Final = "course.updated"
COURSE_PUBLISHED: Final = "course.published"
COURSE_UNPUBLISHED: Final = "course.unpublished"
COURSE_DELETED: Final = "course.deleted"
COURSE_RESTORED: Final = "course.restored"
COURSE_CHAPTER_ADDED: Final = "course.chapter.added"
COURSE_CHAPTER_MOVED: Final = "course.chapter.moved"
COURSE_CHAPTER_RENAMED: Final = "course.chapter.renamed"
COURSE_CHAPTER_REMOVED: Final = "course.chapter.removed"
COURSE_LESSON_ADDED: Final = "course.lesson.added"
COURSE_LESSON_MOVED: Final = "course.lesson.moved"
COURSE_LESSON_RENAMED: Final = "course.lesson.renamed"
COURSE_LESSON_REMOVED: Final = "course.lesson.removed"
COURSE_LESSON_MEDIA_SET: Final = "course.lesson.media_set"
COURSE_LESSON_MEDIA_CLEARED: Final = "course.lesson.media_cleared"

# lectern.media.v1 (media_events.proto)
MEDIA_FILE_REGISTERED: Final = "media.file.registered"
MEDIA_FILE_READY: Final = "media.file.ready"
MEDIA_FILE_FAILED: Final = "media.file.failed"
MEDIA_FILE_UPDATED: Final = "media.file.updated"
MEDIA_FILE_SOFT_DELETED: Final = "media.file.soft_deleted"
MEDIA_FILE_RESTORED: Final = "media.file.restored"
MEDIA_FILE_HARD_DELETED: Final = "media.file.hard_deleted"
MEDIA_FILE_PURGED: Final = "media.file.purged"
MEDIA_LINK_ADDED: Final = "media.link.added"
MEDIA_LINK_REMOVED: Final = "media.link.removed"

# lectern.upload.v1 (upload_events.proto)
UPLOAD_CREATED: Final = "upload.created"
UPLOAD_COMPLETED: Final = "upload.completed"
UPLOAD_FAILED: Final = "upload.failed"
UPLOAD_CANCELLED: Final = "upload.cancelled"
UPLOAD_EXPIRED: Final = "upload.expired"

# lectern.engagement.v1 (engagement_events.proto)
ENGAGEMENT_RECORDED: Final = "engagement.recorded"

# The types that share a payload, as several consumers route them together.
MEDIA_FILE_CHANGES: Final = frozenset({MEDIA_FILE_REGISTERED, MEDIA_FILE_READY, MEDIA_FILE_FAILED, MEDIA_FILE_UPDATED})
"""The types whose payload is a ``MediaFileChanged``."""
MEDIA_FILE_LIFECYCLE: Final = frozenset(
    {MEDIA_FILE_SOFT_DELETED, MEDIA_FILE_RESTORED, MEDIA_FILE_HARD_DELETED, MEDIA_FILE_PURGED}
)
"""The types whose payload is a ``MediaFileLifecycleChanged``."""

BY_TOPIC: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        COURSE_TOPIC: frozenset(
            {
                COURSE_CREATED,
                COURSE_UPDATED,
                COURSE_PUBLISHED,
                COURSE_UNPUBLISHED,
                COURSE_DELETED,
                COURSE_RESTORED,
                COURSE_CHAPTER_ADDED,
                COURSE_CHAPTER_MOVED,
                COURSE_CHAPTER_RENAMED,
                COURSE_CHAPTER_REMOVED,
                COURSE_LESSON_ADDED,
                COURSE_LESSON_MOVED,
                COURSE_LESSON_RENAMED,
                COURSE_LESSON_REMOVED,
                COURSE_LESSON_MEDIA_SET,
                COURSE_LESSON_MEDIA_CLEARED,
            }
        ),
        MEDIA_TOPIC: MEDIA_FILE_CHANGES | MEDIA_FILE_LIFECYCLE | {MEDIA_LINK_ADDED, MEDIA_LINK_REMOVED},
        UPLOAD_TOPIC: frozenset({UPLOAD_CREATED, UPLOAD_COMPLETED, UPLOAD_FAILED, UPLOAD_CANCELLED, UPLOAD_EXPIRED}),
        ENGAGEMENT_TOPIC: frozenset({ENGAGEMENT_RECORDED}),
    }
)
"""Each topic's event types: the only types a producer may publish there."""

ALL: Final = frozenset(event_type for types in BY_TOPIC.values() for event_type in types)
"""Every known event type; a consumer's routing table names only these."""
