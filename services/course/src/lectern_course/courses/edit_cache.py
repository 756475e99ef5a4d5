"""Encoded editor trees kept in memory, so a GetCourseEdit of an unchanged course is one statement
(the course row with the caller's access, its version and the media stamp) and bytes already made.

A tree is keyed by (course id, course version, media stamp). Every change to a course's chapters
and lessons gives the course its next version in the same transaction, and every change to the
media read model bumps the stamp (media_summaries.repository), so an entry whose key the database
still answers is exactly the tree it would load: a replica never serves a tree another replica
changed since, because the key is read from the database on every call. What is cached is only the
chapters; the course itself (title, role, deleted, published) is encoded from the row each time.

Bounded by the encoded bytes it holds: least recently used trees go first, and a course keeps at
most one entry (a newer version replaces the older one).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from lectern_course.courses.schemas import ChapterView, CourseView

TreeKey = tuple[int, int]
"""(course version, media stamp) of one course."""


@dataclass(frozen=True)
class EncodedCourseEdit:
    """A course view and its chapters already encoded (transport.edit_encoding's wire bytes)."""

    course: CourseView
    chapters: bytes


class EditTreeCache:
    def __init__(self, encode: Callable[[list[ChapterView]], bytes], *, max_bytes: int) -> None:
        self._encode = encode
        self._max_bytes = max_bytes
        self._bytes = 0
        self._trees: OrderedDict[str, tuple[TreeKey, bytes]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, course_id: str, key: TreeKey) -> bytes | None:
        entry = self._trees.get(course_id)
        if entry is None or entry[0] != key:
            self.misses += 1
            return None
        self._trees.move_to_end(course_id)
        self.hits += 1
        return entry[1]

    def at_version(self, course_id: str, version: int) -> bytes | None:
        """The cached tree of the course at ``version`` whatever its media stamp: for the answer
        of the save that just committed that version (its own tree, or one read after it)."""
        entry = self._trees.get(course_id)
        return entry[1] if entry is not None and entry[0][0] == version else None

    def put(self, course_id: str, key: TreeKey, chapters: list[ChapterView]) -> bytes:
        """Encode ``chapters`` (the tree at ``key``), keep them unless they alone exceed the bound,
        and answer the encoded bytes."""
        encoded = self._encode(chapters)
        held = self._trees.get(course_id)
        if held is not None and held[0] > key:
            return encoded  # a slower reader's older tree: the newer one stays
        self._forget(course_id)
        if len(encoded) <= self._max_bytes:
            self._trees[course_id] = (key, encoded)
            self._bytes += len(encoded)
            while self._bytes > self._max_bytes:
                self._forget(next(iter(self._trees)))
        return encoded

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._trees)

    def _forget(self, course_id: str) -> None:
        entry = self._trees.pop(course_id, None)
        if entry is not None:
            self._bytes -= len(entry[1])
