"""The nodes of a course's outline in memory, each remembering how it was loaded so only what
changed is written back, and the media facts a save checks its media ids against."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lectern_course.courses.schemas import MediaSummaryView


@dataclass(eq=False)
class LessonNode:
    id: str
    chapter_id: str
    title: str
    media_id: str | None
    media: MediaSummaryView | None
    is_new: bool = False
    deleted: bool = False
    # As loaded, to write back only what changed.
    loaded_chapter_id: str | None = None
    loaded_position: int | None = None
    loaded_title: str | None = None
    loaded_media_id: str | None = None


@dataclass(eq=False)
class ChapterNode:
    id: str
    title: str
    lessons: list[LessonNode] = field(default_factory=list)
    is_new: bool = False
    deleted: bool = False
    loaded_position: int | None = None
    loaded_title: str | None = None


@dataclass(frozen=True)
class MediaFacts:
    """What the media read model says of a media id named in a save."""

    summary: MediaSummaryView
    owner_id: str
    gone: bool


def media_view(row: Any) -> MediaSummaryView | None:
    """The media summary of a lesson row joined with the read model, or None when unknown or gone."""
    if row.ms_id is None or row.ms_gone:
        return None
    return MediaSummaryView(
        id=row.ms_id,
        file_name=row.ms_file_name,
        status=row.ms_status,
        duration_seconds=row.ms_duration_seconds,
        size_bytes=row.ms_size_bytes,
    )
