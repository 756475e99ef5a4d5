"""What media needs to know about course content, behind a small Protocol (STYLE rule 10).

The course service answers it over gRPC (``ResolveResources``); see
``transport/course_client.py``. Services depend only on this Protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from lectern_common.identity import Identity

from lectern_media.links.schemas import ResourceRef


@dataclass(frozen=True)
class ResolvedTarget:
    """A link target as course sees it, for the caller: unknown or foreign ids have exists=False."""

    ref: ResourceRef
    exists: bool
    course_id: str = ""
    can_edit: bool = False
    course_published: bool = False
    course_title: str = ""


class CourseDirectory(Protocol):
    async def resolve(self, identity: Identity, refs: Sequence[ResourceRef]) -> dict[ResourceRef, ResolvedTarget]:
        """Resolve each ref for ``identity``; a ref course did not answer counts as not existing."""
        ...
