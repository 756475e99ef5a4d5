"""``python -m lectern_media serve|migrate``."""

from __future__ import annotations

from lectern_common.service_cli import run_service

from lectern_media.bootstrap import MediaApp
from lectern_media.settings import MediaSettings


def main() -> int:
    return run_service(name="media", settings_factory=MediaSettings, app_factory=MediaApp, package_file=__file__)


if __name__ == "__main__":
    raise SystemExit(main())
