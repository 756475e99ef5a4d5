"""RecordEngagement's input and result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class EngagementType(StrEnum):
    VIEW = "view"
    WATCH_SECONDS = "watch_seconds"
    COMPLETION = "completion"
    SALE = "sale"
    RATING = "rating"


@dataclass(frozen=True)
class EngagementInput:
    """One fact as the frontend reported it (through the gateway), not yet validated."""

    type: str
    course_id: str
    lesson_id: str | None
    media_id: str | None
    at: datetime | None
    value: float | None


@dataclass(frozen=True)
class AcceptedEngagement:
    """A validated fact: its value is normalised (1 for a view or completion)."""

    type: EngagementType
    course_id: str
    owner_id: str
    lesson_id: str | None
    media_id: str | None
    at: datetime
    value: float


@dataclass(frozen=True)
class RecordedEngagement:
    """One ``engagement.recorded`` event from the topic, as its fact is stored (under the event id)."""

    event_id: str
    user_id: str
    type: str
    course_id: str
    lesson_id: str | None
    media_id: str | None
    at: datetime
    value: float | None


class RecordResult(BaseModel):
    accepted: int
    rejected: int = 0
    rejected_fields: dict[str, str] = Field(default_factory=dict)
