"""Daily series over a range, zero-filled, and a least-squares linear trend (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any


def days_in_range(start: datetime, end: datetime) -> list[date]:
    """Every UTC day that ``[start, end)`` touches."""
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)] if end > start else []


def daily_series(
    rows: Sequence[tuple[datetime, dict[str, Any]]], start: datetime, end: datetime, zero: dict[str, Any]
) -> list[dict[str, Any]]:
    """One entry per day of the range, ``{"day": "YYYY-MM-DD", **figures}``, zeros where no row."""
    by_day = {row_day.date(): figures for row_day, figures in rows}
    return [{"day": day.isoformat(), **by_day.get(day, zero)} for day in days_in_range(start, end)]


def linear_trend(values: Sequence[float]) -> dict[str, Any]:
    """Least-squares line through (day index, value): slope per day, intercept, direction."""
    n = len(values)
    if n < 2:
        return {"slopePerDay": 0.0, "intercept": float(values[0]) if values else 0.0, "direction": "flat"}
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    variance = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values)) / variance
    intercept = mean_y - slope * mean_x
    direction = "flat" if abs(slope) < 1e-9 else ("up" if slope > 0 else "down")
    return {"slopePerDay": round(slope, 6), "intercept": round(intercept, 6), "direction": direction}
