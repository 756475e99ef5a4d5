"""A stretch of a fetched batch whose facts are stored kind by kind, one statement per kind, with
the same result as storing each event in turn (FactService.fold_many).

The kinds stored this way are the frequent ones: file states, link changes, lesson states and
engagement facts. They touch different rows, except a link change, which also sets its file's
usage count; so a segment stores files first, then links, and it ends before a file change for
a media a link change of the segment already counted (the count would then land on a row the file
change creates, where one event at a time it would find none). Any other change ends the segment
too and is stored on its own, in order.

Several changes of one row inside a segment are merged into what applying them in turn leaves:

* a file: the state of the highest version (the later one of equal versions, as ``version <=``
  lets it overwrite), created at the first change's time (only an insert sets it); the upsert's
  own version check then decides against the stored row, as each change's would have;
* a link: removed if any change removed it, then added with the first addition after the last
  removal (later additions find the row and change nothing);
* a file's usage count: the last link change's;
* a lesson: title, chapter and course of the last change, media and time of the first (only an
  insert sets those).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lectern_analytics.engagement.schemas import RecordedEngagement
from lectern_analytics.facts.schemas import FactChange, LessonState, MediaFileState, MediaLinkChange

LinkKey = tuple[str, str, str]


@dataclass
class FileMerge:
    created_at: datetime
    latest: MediaFileState


@dataclass
class LinkMerge:
    removed: bool = False
    added: MediaLinkChange | None = None  # the first addition since the last removal


@dataclass
class LessonMerge:
    first: LessonState
    latest: LessonState


@dataclass
class Segment:
    files: dict[str, FileMerge] = field(default_factory=dict)
    links: dict[LinkKey, LinkMerge] = field(default_factory=dict)
    usage_counts: dict[str, int] = field(default_factory=dict)
    lessons: dict[str, LessonMerge] = field(default_factory=dict)
    engagement: list[RecordedEngagement] = field(default_factory=list)
    # Whose cached domains to invalidate: owners the events name, and ids whose owner is looked up.
    media_owners: set[str] = field(default_factory=set)
    course_owners: set[str] = field(default_factory=set)
    media_to_look_up: set[str] = field(default_factory=set)
    courses_to_look_up: set[str] = field(default_factory=set)

    def add(self, change: FactChange | RecordedEngagement) -> bool:
        """Take ``change`` into the segment; False (and nothing taken) when it cannot join."""
        if isinstance(change, RecordedEngagement):
            self.engagement.append(change)
        elif isinstance(change, MediaFileState):
            if change.media_id in self.usage_counts:
                return False
            self._add_file(change)
        elif isinstance(change, MediaLinkChange):
            self._add_link(change)
        elif isinstance(change, LessonState):
            self._add_lesson(change)
        else:
            return False
        return True

    def __bool__(self) -> bool:
        return bool(self.files or self.links or self.lessons or self.engagement)

    def _add_file(self, state: MediaFileState) -> None:
        merged = self.files.get(state.media_id)
        if merged is None:
            self.files[state.media_id] = FileMerge(state.occurred_at, state)
        elif state.version >= merged.latest.version:
            merged.latest = state
        if state.owner_id:
            self.media_owners.add(state.owner_id)

    def _add_link(self, change: MediaLinkChange) -> None:
        merged = self.links.setdefault((change.media_id, change.resource_type, change.resource_id), LinkMerge())
        if not change.added:
            merged.removed, merged.added = True, None
        elif merged.added is None:
            merged.added = change
        self.usage_counts[change.media_id] = change.usage_count
        if change.owner_id:
            self.media_owners.add(change.owner_id)
        else:
            self.media_to_look_up.add(change.media_id)

    def _add_lesson(self, state: LessonState) -> None:
        merged = self.lessons.get(state.lesson_id)
        if merged is None:
            self.lessons[state.lesson_id] = LessonMerge(state, state)
        else:
            merged.latest = state
        if state.owner_id:
            self.course_owners.add(state.owner_id)
        else:
            self.courses_to_look_up.add(state.course_id)
