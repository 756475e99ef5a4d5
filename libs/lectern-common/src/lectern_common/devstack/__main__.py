"""Command line of the dev stack: ``python -m lectern_common.devstack up [options]``.

``make up`` runs this with the defaults: documented ports, run directory ``.devstack/`` at the
workspace root, every installed service. Tests run it with ``--ports auto --state-file PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from lectern_common.devstack.catalogue import extra_specs_from_env
from lectern_common.devstack.launcher import LauncherOptions, run_up
from lectern_common.devstack.rundir import default_run_dir
from lectern_common.devstack.servers.s3 import DEFAULT_BUCKET


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lectern_common.devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up",
        help="start infrastructure and every service, print their URLs, supervise until Ctrl-C",
        description=(
            "Infrastructure comes from LECTERN_DATABASE_URL (admin URL), LECTERN_REDIS_URL, "
            "LECTERN_KAFKA_BOOTSTRAP and LECTERN_S3_ENDPOINT/_ACCESS_KEY/_SECRET_KEY when set; "
            "whatever is not set is started from pip packages on free ports."
        ),
    )
    up.add_argument(
        "--ports",
        choices=("default", "auto"),
        default="default",
        help="default: the documented ports (gateway 8080, upload 8081, realtime 8082, gRPC 50051-50054); "
        "auto: free ports (tests)",
    )
    up.add_argument("--run-dir", type=Path, default=None, help="data and logs (default: .devstack/)")
    up.add_argument("--state-file", type=Path, default=None, help="write URLs, ports, pids and secrets here")
    up.add_argument(
        "--spec",
        action="append",
        default=[],
        metavar="MODULE:ATTR",
        help="add a ServiceSpec that is not installed as an entry point (repeatable; also "
        "LECTERN_DEVSTACK_SPECS=a:B,c:D)",
    )
    up.add_argument("--only", default=None, help="comma-separated service names to start")
    up.add_argument("--infra-only", action="store_true", help="start only the infrastructure")
    up.add_argument(
        "--database-prefix",
        default="",
        help="prefix of every service database name (lets stacks share one PostgreSQL server)",
    )
    up.add_argument("--bucket", default=DEFAULT_BUCKET, help="S3 bucket the services share")
    up.add_argument(
        "--replicas",
        action="append",
        default=[],
        metavar="NAME=N",
        help="run N processes of a service (repeatable), e.g. upload=2: upload-2 gets ports of its own",
    )
    up.add_argument("--log-json", action="store_true", help="services log JSON instead of text")
    up.add_argument("--start-timeout", type=float, default=120.0, help="seconds for each start step")
    up.add_argument(
        "--editor",
        choices=("auto", "off", "require"),
        default="auto",
        help="serve the reference editor (clients/web/apps/editor): auto = when built and Node.js is installed",
    )
    up.add_argument("--stop-grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    return parser


def parse_replicas(values: list[str]) -> dict[str, int]:
    replicas: dict[str, int] = {}
    for value in values:
        name, _, count = value.partition("=")
        if not name.strip() or not count.strip().isdigit() or int(count) < 1:
            raise SystemExit(f"--replicas wants NAME=N with N >= 1, got {value!r}")
        replicas[name.strip()] = int(count)
    return replicas


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # stamina logs each scheduled retry as a warning; with no logging configured Python prints
    # them bare on stderr. The bucket probe's retries while SeaweedFS settles are expected.
    logging.getLogger("stamina").setLevel(logging.ERROR)
    options = LauncherOptions(
        run_dir=(args.run_dir or default_run_dir()).resolve(),
        ports=args.ports,
        state_file=args.state_file.resolve() if args.state_file else None,
        extra_specs=[*extra_specs_from_env(), *args.spec],
        only={name.strip() for name in args.only.split(",") if name.strip()} if args.only else None,
        database_prefix=args.database_prefix,
        bucket=args.bucket,
        log_json=args.log_json,
        start_timeout=args.start_timeout,
        stop_grace=args.stop_grace,
        infra_only=args.infra_only,
        replicas=parse_replicas(args.replicas),
        editor=args.editor,
    )
    return asyncio.run(run_up(options))


if __name__ == "__main__":
    sys.exit(main())
