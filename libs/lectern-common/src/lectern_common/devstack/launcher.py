"""``python -m lectern_common.devstack up``: the whole suite on one machine, supervised.

Order of work: start the infrastructure (:mod:`.infra`), create each service's database and run
its migrations (``python -m <module> migrate``), create every topic and the bucket, then start each
service (``python -m <module> serve``) with its settings in ``LECTERN_<SERVICE>_*`` variables
(:mod:`.environment`), wait until its ports answer, print every URL and write the state file.

From then on the launcher supervises (:mod:`.supervisor`): a service that exits is restarted with
a visible log line and an exponential backoff. SIGINT or SIGTERM stops everything it started,
services first (SIGTERM, then SIGKILL after a grace period) and the infrastructure last; a second
signal skips the grace. Every child runs in its own process group and is stopped as a group, so
nothing survives.

The launcher knows no service by name: it starts what :mod:`.catalogue` finds (the
``lectern.services`` entry points), and everything that differs between services comes from their
:class:`~lectern_common.devstack.spec.ServiceSpec`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from lectern_common.devstack import editor
from lectern_common.devstack.catalogue import Catalogue, discover
from lectern_common.devstack.editor import DEFAULT_EDITOR_PORT, EditorMode, EditorServer, EditorUnavailable
from lectern_common.devstack.environment import (
    PortMode,
    ServicePorts,
    StackSecrets,
    StackSettings,
    assign_ports,
    free_ports_for,
    peer_settings,
    service_environment,
)
from lectern_common.devstack.errors import LaunchError
from lectern_common.devstack.infra import Infra, InfraError
from lectern_common.devstack.ports import free_port, port_answers
from lectern_common.devstack.rundir import default_run_dir, run_dir_lock
from lectern_common.devstack.servers.s3 import DEFAULT_BUCKET
from lectern_common.devstack.spec import ServiceSpec
from lectern_common.devstack.state import StackState
from lectern_common.devstack.supervisor import Console, SupervisedService
from lectern_common.settings import EDITOR_DEV_ORIGINS

__all__ = ["DEFAULT_BUCKET", "LaunchError", "Launcher", "LauncherOptions", "default_run_dir", "run_up"]


@dataclass
class LauncherOptions:
    """What ``up`` was asked to do (see ``__main__`` for the command-line flags)."""

    run_dir: Path
    ports: PortMode = "default"
    state_file: Path | None = None
    extra_specs: list[str] = field(default_factory=list)
    only: set[str] | None = None
    database_prefix: str = ""
    bucket: str = DEFAULT_BUCKET
    log_json: bool = False
    cors_origins: tuple[str, ...] = EDITOR_DEV_ORIGINS
    """Origins the browser-facing services allow browsers to call from (the editor's)."""
    start_timeout: float = 120.0
    stop_grace: float = 10.0
    infra_only: bool = False
    replicas: dict[str, int] = field(default_factory=dict)
    """Service name -> how many processes run it (default: the spec's ``replicas``, 1): ``NAME=2``
    adds ``NAME-2`` on ports of its own, same database and settings (the fault tests run two of one)."""
    editor: EditorMode = "auto"
    """Serve the reference editor: when built and Node.js is here (auto), never (off), or fail without it (require)."""
    editor_dir: Path | None = None


async def check_ports_free(assigned: dict[str, ServicePorts]) -> None:
    """Fail early and clearly when a default port is taken (another ``make up``, most likely)."""
    busy = [
        f"{name}:{port}"
        for name, ports in assigned.items()
        for port in ports.listening()
        if await port_answers(port, timeout=0.3)
    ]
    if busy:
        raise LaunchError(
            f"ports already in use: {', '.join(busy)}; another `make up` may be running (or use --ports auto)"
        )


class Launcher:
    """Brings the stack up, keeps it up, and takes it down; one instance per ``up``."""

    def __init__(self, options: LauncherOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.infra = Infra(options.run_dir)
        self.secrets = StackSecrets.generate()
        self.catalogue = Catalogue(chosen=[], known=[], skipped={})
        self.services: dict[str, SupervisedService] = {}
        self.editor: EditorServer | None = None
        self.topics: list[str] = []
        self.stop_requested = asyncio.Event()
        self._forced = False
        self._first_signal_at: float | None = None

    def request_stop(self) -> None:
        """Signal handler: first signal stops in order, a second one kills without grace.

        One Ctrl-C often arrives twice (from the terminal and forwarded by ``uv run`` or ``make``),
        so a repeat within a second is the same request, not an impatient second one.
        """
        now = time.monotonic()
        if self._first_signal_at is not None and now - self._first_signal_at < 1.0:
            return
        if self.stop_requested.is_set():
            self._forced = True
            self.console.launcher("second signal: killing everything now")
            if self.editor is not None:
                self.editor.kill_now()
            for service in self.services.values():
                service.kill_now()
            self.infra.kill_now()
            return
        self._first_signal_at = now
        self.console.launcher("stopping (a second Ctrl-C kills without waiting)")
        self.stop_requested.set()

    # -- bringing the stack up, step by step --------------------------------------------------------

    async def start(self) -> None:
        """Everything up to "the stack answers"; raises :class:`LaunchError` or :class:`InfraError`."""
        options = self.options
        specs = self._choose()
        ports = assign_ports(specs, options.ports)
        if options.ports == "default":
            await check_ports_free(ports)

        began = time.monotonic()
        await self.infra.start(timeout=options.start_timeout)
        self.console.launcher(f"infrastructure ready in {time.monotonic() - began:.1f}s")
        database_urls = {spec.name: await self._create_database(spec) for spec in specs}
        # Every known service's topics, started or not: a started consumer's topics must exist.
        self.topics = sorted({topic for spec in self.catalogue.known for topic in spec.topics})
        await asyncio.gather(
            self.infra.create_topics(self.topics),
            self.infra.ensure_bucket(options.bucket, timeout=options.start_timeout),
        )

        self._plan(specs, ports, database_urls)
        await self._migrate()
        await self._start_services()
        await self._start_editor(ports)

    def _choose(self) -> list[ServiceSpec]:
        """The services of this run (none with ``--infra-only``), after the catalogue."""
        options = self.options
        self.catalogue = discover(options.extra_specs, options.only)
        specs = [] if options.infra_only else self.catalogue.chosen
        unknown = set(options.replicas) - {s.name for s in specs}
        if unknown:
            raise LaunchError(f"--replicas names services that are not started: {', '.join(sorted(unknown))}")
        for name, error in self.catalogue.skipped.items():
            self.console.launcher(f"{name} not loaded (not started either): {error}")
        names = ", ".join(s.name for s in specs) or "none installed yet"
        self.console.launcher(f"services: {names}; run dir {options.run_dir}")
        return specs

    async def _create_database(self, spec: ServiceSpec) -> str | None:
        if not spec.database:
            return None
        return await self.infra.create_database(f"{self.options.database_prefix}{spec.database}")

    def _plan(
        self, specs: list[ServiceSpec], ports: dict[str, ServicePorts], database_urls: dict[str, str | None]
    ) -> None:
        """One :class:`SupervisedService` per process: each spec's first, then its replicas."""
        options = self.options
        stack = StackSettings(
            urls=self.infra.urls,
            secrets=self.secrets,
            bucket=options.bucket,
            log_json=options.log_json,
            base=dict(os.environ),
            cors_origins=options.cors_origins,
        )
        instances = [(spec, spec.name, ports[spec.name]) for spec in specs]
        for spec in specs:
            count = options.replicas.get(spec.name, spec.replicas)
            instances += [(spec, f"{spec.name}-{n}", free_ports_for(spec)) for n in range(2, count + 1)]
        for spec, name, own in instances:
            # A replica's own offers point at itself, like the first process's at the first.
            peers = peer_settings(self.catalogue.known, {**ports, spec.name: own})
            env = service_environment(spec, own, peers, database_urls[spec.name], stack)
            self.services[name] = SupervisedService(
                spec,
                own,
                env,
                database_urls[spec.name],
                options.run_dir,
                self.console,
                on_restarted=self.write_state,
                instance=name,
            )

    async def _migrate(self) -> None:
        # Replicas share their first instance's database: it is migrated once.
        to_migrate = [s for s in self.services.values() if s.database_url is not None and not s.is_replica]
        if not to_migrate:
            return
        self.console.launcher(f"migrating: {', '.join(s.name for s in to_migrate)}")
        began = time.monotonic()
        await asyncio.gather(*(s.migrate(self.options.start_timeout) for s in to_migrate))
        self.console.launcher(f"migrations done in {time.monotonic() - began:.1f}s")

    async def _start_services(self) -> None:
        began = time.monotonic()
        results = await asyncio.gather(
            *(s.start(self.options.start_timeout) for s in self.services.values()), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise LaunchError("\n\n".join(str(f) for f in failures)) from failures[0]
        if self.services:
            self.console.launcher(f"services ready in {time.monotonic() - began:.1f}s")

    async def _start_editor(self, ports: dict[str, ServicePorts]) -> None:
        """The editor, proxying to this run's services (see :mod:`.editor`)."""
        options = self.options
        if options.editor == "off" or options.infra_only or not editor.wanted(self.services):
            return
        http_ports = {s.name: ports.get(s.name, ServicePorts.defaults(s)).http for s in self.catalogue.known}
        try:
            editor_dir = options.editor_dir or editor.locate_editor()
            port = free_port() if options.ports == "auto" else DEFAULT_EDITOR_PORT
            if options.ports == "default" and await port_answers(port, timeout=0.3):
                raise EditorUnavailable(f"port {port} is already in use")
            self.editor = EditorServer(
                editor.editor_command(editor_dir, port),
                port=port,
                http_ports=http_ports,
                log_path=options.run_dir / "logs" / "editor.log",
                base_env=dict(os.environ),
                on_line=lambda line: self.console.service("editor", line),
            )
            await self.editor.start(timeout=options.start_timeout)
        except EditorUnavailable as exc:
            if options.editor == "require":
                raise LaunchError(f"editor: {exc}") from None
            self.console.launcher(f"editor not started: {exc}")
            if self.editor is not None:
                await self.editor.stop(grace=0)
            self.editor = None

    # -- what a running stack tells --------------------------------------------------------------

    def state(self) -> StackState:
        return StackState(
            launcher_pid=os.getpid(),
            run_dir=str(self.options.run_dir),
            infra=self.infra.urls.to_dict(),
            infra_pids=self.infra.pids(),
            secrets=self.secrets.as_dict(),
            s3_bucket=self.options.bucket,
            topics=self.topics,
            urls=self.urls(),
            services={name: s.state() for name, s in self.services.items()},
        )

    def urls(self) -> dict[str, str]:
        """Everything worth printing, label -> URL, services first."""
        printed: dict[str, str] = {}
        if self.editor is not None:
            printed["editor"] = self.editor.url
        for service in self.services.values():
            state = service.state()
            printed.update(state.urls)
            if state.grpc_port:
                printed[f"{state.name} gRPC"] = state.grpc_target
            if state.http_port and not state.urls:
                printed[f"{state.name} HTTP"] = f"http://127.0.0.1:{state.http_port}"
        urls = self.infra.urls
        printed["postgres"] = urls.database_admin_url
        printed["redis"] = urls.redis_url
        printed["kafka"] = urls.kafka_bootstrap
        printed["s3"] = (
            f"{urls.s3_endpoint} (bucket {self.options.bucket}, "
            f"access key {urls.s3_access_key}, secret key {urls.s3_secret_key})"
        )
        return printed

    def write_state(self) -> None:
        if self.options.state_file is not None:
            self.state().write(self.options.state_file)

    def announce(self) -> None:
        width = max((len(label) for label in self.urls()), default=0)
        self.console.launcher("Lectern dev stack is up:")
        for label, url in self.urls().items():
            self.console.launcher(f"  {label:<{width}}  {url}")
        self.console.launcher(f"logs: {self.options.run_dir / 'logs'}")
        if self.options.state_file is not None:
            self.console.launcher(f"state: {self.options.state_file}")
        self.console.launcher("Ctrl-C stops everything.")

    async def shutdown(self) -> None:
        """Services first (they may still flush to the infrastructure), then the infrastructure."""
        grace = 0.0 if self._forced else self.options.stop_grace
        if self.editor is not None:
            await self.editor.stop(grace=min(grace, 3.0))
        await asyncio.gather(*(s.stop(grace) for s in self.services.values()), return_exceptions=True)
        await self.infra.stop()
        if self.options.state_file is not None:
            self.options.state_file.unlink(missing_ok=True)

    async def run_until_stopped(self) -> None:
        """Start, announce, and wait for a stop request; a request during the start cancels it."""
        starting = asyncio.create_task(self.start())
        stop_wait = asyncio.create_task(self.stop_requested.wait())
        try:
            await asyncio.wait({starting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                starting.result()
                self.write_state()
                self.announce()
                await stop_wait
            else:
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
        finally:
            stop_wait.cancel()


async def run_up(options: LauncherOptions) -> int:
    """The ``up`` command: returns the process exit code (0 after a requested stop)."""
    loop = asyncio.get_running_loop()
    launcher = Launcher(options)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, launcher.request_stop)
    code = 0
    try:
        with run_dir_lock(options.run_dir):
            try:
                await launcher.run_until_stopped()
            except (LaunchError, InfraError) as exc:
                launcher.console.launcher(f"error: {exc}")
                code = 1
            finally:
                await launcher.shutdown()
                launcher.console.launcher("stopped")
    except LaunchError as exc:  # the run-dir lock
        launcher.console.launcher(f"error: {exc}")
        code = 1
    return code
