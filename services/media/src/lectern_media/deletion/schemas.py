"""What deleting, previewing and restoring a file answer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from lectern_media.library.schemas import MediaView
from lectern_media.links.schemas import LinkView


class DeleteMode(StrEnum):
    SOFT = "soft"
    HARD = "hard"


@dataclass(frozen=True)
class DeleteRequest:
    media_id: str
    mode: DeleteMode | None  # None: the caller named no mode (refused as invalid)
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class AffectedCourse:
    course_id: str
    title: str
    published: bool
    link_count: int
    # False when course could not be asked (after a real delete only): title and publish state unknown.
    resolved: bool = True

    def to_audit(self) -> dict[str, object]:
        return {
            "courseId": self.course_id,
            "title": self.title,
            "published": self.published if self.resolved else None,
            "linkCount": self.link_count,
        }


@dataclass(frozen=True)
class DeletionOutcome:
    media: MediaView
    removed_links: list[LinkView]
    affected_courses: list[AffectedCourse]
    bytes_reclaimed: int | None
    dry_run: bool


class SkipReason(StrEnum):
    TARGET_DELETED = "target_deleted"
    NOT_EDITABLE = "not_editable"
    ALREADY_LINKED = "already_linked"


@dataclass(frozen=True)
class SkippedLink:
    link: LinkView
    reason: SkipReason


@dataclass(frozen=True)
class RestoreOutcome:
    media: MediaView
    restored_links: list[LinkView]
    skipped_links: list[SkippedLink]


R = TypeVar("R")


class DeletionAnswer(Protocol[R]):
    """How the door that asked for a delete words its outcome, and keeps that answer under the
    request's idempotency key: the door's wire format, which the deletion service never reads."""

    def __call__(self, outcome: DeletionOutcome) -> R: ...

    async def replay(self, session: AsyncSession) -> R | None:
        """The answer of an earlier run of this request; None claims its key for this run."""
        ...

    async def remember(self, session: AsyncSession, answer: R) -> None:
        """Keep ``answer`` under the request's key, in the transaction of the change."""
        ...
