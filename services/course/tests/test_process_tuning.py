"""The served process's collector tuning: startup frozen out of the collector's sight, young
collections rarer (bench/course: full collections of startup's objects were GetCourseEdit's p99)."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from lectern_course import __main__ as course_main
from lectern_course.process_tuning import GC_THRESHOLDS, tune_process


def test_tuning_freezes_what_exists_and_sets_the_thresholds() -> None:
    thresholds = gc.get_threshold()
    made_before = [object()]
    try:
        tune_process()
        made_after = [object()]
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        tracked = gc.get_objects()
        assert not any(item is made_before for item in tracked)  # frozen: no collection walks it
        assert any(item is made_after for item in tracked)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_served_process_is_tuned_before_its_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(course_main, "run_service", lambda **options: seen.update(options) or 0)

    assert course_main.main() == 0
    assert seen["tune_process"] is tune_process
