"""Analytics actions: dashboards and engagement facts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from lectern_gateway.actions.schemas import DataModel, Identifier, InputModel, Instant

DashboardName = Literal["storage", "content", "roi", "capacity"]


class DashboardInput(InputModel):
    dashboard: DashboardName
    from_: Instant = Field(alias="from")
    to: Instant
    course_id: Identifier | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DashboardInput:
        if self.to < self.from_:
            raise ValueError("to must not be before from")
        return self


class EngagementEventInput(InputModel):
    type: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$")]
    course_id: Identifier
    lesson_id: Identifier | None = None
    media_id: Identifier | None = None
    at: Instant
    value: Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)] | None = None


class RecordEngagementInput(InputModel):
    events: list[EngagementEventInput] = Field(min_length=1, max_length=500)


class Dashboard(DataModel):
    dashboard: DashboardName
    domains: dict[str, dict[str, Any]] = Field(description="One entry per domain the dashboard combines.")
    generated_at: datetime


class EngagementAccepted(DataModel):
    accepted: int
    rejected: int = Field(description="Invalid events skipped while others were accepted.")
    rejected_fields: dict[str, str] = Field(description="Why, keyed `events.<i>.<field>`.")
