"""GetDashboard's input and result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DashboardRequest:
    dashboard: str | None
    start: datetime | None
    end: datetime | None
    course_id: str | None


@dataclass(frozen=True)
class DashboardResult:
    dashboard: str
    domains: dict[str, dict[str, Any]]
    generated_at: datetime
