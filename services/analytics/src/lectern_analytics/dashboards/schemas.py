"""GetDashboard's input and result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lectern_analytics.dashboards.cache import CachedDomain


@dataclass(frozen=True)
class DashboardRequest:
    dashboard: str | None
    start: datetime | None
    end: datetime | None
    course_id: str | None


@dataclass(frozen=True)
class DashboardResult:
    """``answers``: each cached or computed domain; ``combined``: the ROI dashboard's entry derived
    from sales and production (cached beside them)."""

    dashboard: str
    answers: dict[str, CachedDomain]
    combined: CachedDomain | None
    generated_at: datetime

    @property
    def domains(self) -> dict[str, dict[str, Any]]:
        """Every domain's figures (camelCase, as the JSON mapping of its message), ``combined`` too."""
        domains = {name: answer.figures for name, answer in self.answers.items()}
        if self.combined is not None:
            domains["combined"] = self.combined.figures
        return domains
