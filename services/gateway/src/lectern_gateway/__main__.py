"""``python -m lectern_gateway serve|migrate`` (``migrate`` does nothing: the gateway owns no database)."""

from __future__ import annotations

from lectern_common.service_cli import run_service

from lectern_gateway.bootstrap import GatewayApp
from lectern_gateway.settings import GatewaySettings


def main() -> int:
    return run_service(
        name="gateway",
        settings_factory=GatewaySettings,
        app_factory=GatewayApp,
        package_file=__file__,
        migrations=False,
        # uvloop: less CPU per action in the event loop and its transports (bench/gateway).
        loop="fastest",
    )


if __name__ == "__main__":
    raise SystemExit(main())
