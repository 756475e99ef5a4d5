"""``python -m lectern_realtime serve|migrate``."""

from __future__ import annotations

from lectern_common.service_cli import run_service

from lectern_realtime.bootstrap import RealtimeApp
from lectern_realtime.process_tuning import tune_process
from lectern_realtime.settings import RealtimeSettings


def main() -> int:
    return run_service(
        name="realtime",
        settings_factory=RealtimeSettings,
        app_factory=RealtimeApp,
        package_file=__file__,
        # uvloop: fewer CPU cycles per socket and per message than asyncio's selector loop.
        loop="fastest",
        tune_process=tune_process,
        # No database: Redis keeps everything realtime keeps; `migrate` is accepted and does nothing.
        migrations=False,
    )


if __name__ == "__main__":
    raise SystemExit(main())
