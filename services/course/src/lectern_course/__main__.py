"""``python -m lectern_course serve|migrate``."""

from __future__ import annotations

from lectern_common.service_cli import run_service

from lectern_course.bootstrap import CourseApp
from lectern_course.process_tuning import tune_process
from lectern_course.settings import CourseSettings


def main() -> int:
    return run_service(
        name="course",
        settings_factory=CourseSettings,
        app_factory=CourseApp,
        package_file=__file__,
        # The collector frozen after the imports, young collections rarer: full collections of
        # startup's objects were GetCourseEdit's p99 (bench/course).
        tune_process=tune_process,
    )


if __name__ == "__main__":
    raise SystemExit(main())
