"""Links between media files and course content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class ResourceType(StrEnum):
    COURSE = "course"
    CHAPTER = "chapter"
    LESSON = "lesson"


@dataclass(frozen=True)
class ResourceRef:
    resource_type: ResourceType
    resource_id: str


@dataclass(frozen=True)
class LinkView:
    media_id: str
    resource_type: ResourceType
    resource_id: str
    course_id: str
    linked_by: str
    linked_at: datetime

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(self.resource_type, self.resource_id)

    def to_api(self) -> dict[str, Any]:
        return {
            "mediaId": self.media_id,
            "resourceType": self.resource_type.value,
            "resourceId": self.resource_id,
            "courseId": self.course_id,
            "linkedBy": self.linked_by,
            "linkedAt": self.linked_at.isoformat(),
        }

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> LinkView:
        return cls(
            media_id=data["mediaId"],
            resource_type=ResourceType(data["resourceType"]),
            resource_id=data["resourceId"],
            course_id=data["courseId"],
            linked_by=data["linkedBy"],
            linked_at=datetime.fromisoformat(data["linkedAt"]),
        )


@dataclass(frozen=True)
class Usage:
    count: int
    links: list[LinkView]
