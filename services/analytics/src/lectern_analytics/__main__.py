"""``python -m lectern_analytics serve|migrate``."""

from __future__ import annotations

from lectern_common.service_cli import run_service

from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.settings import AnalyticsSettings


def main() -> int:
    return run_service(
        name="analytics", settings_factory=AnalyticsSettings, app_factory=AnalyticsApp, package_file=__file__
    )


if __name__ == "__main__":
    raise SystemExit(main())
