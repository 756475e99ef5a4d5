"""``python -m lectern_common.devstack up``: the whole suite on one machine, supervised.

Order of work: start the infrastructure (:mod:`.infra`), create each service's database and run
its migrations (``python -m <module> migrate``), create every topic and the bucket, then start each
service (``python -m <module> serve``) with its settings in ``LECTERN_<SERVICE>_*`` variables,
wait until its ports answer, print every URL and write the state file.

From then on the launcher supervises: a service that exits is restarted with a visible log line
and an exponential backoff. SIGINT or SIGTERM stops everything it started, services first (SIGTERM,
then SIGKILL after a grace period) and the infrastructure last; a second signal skips the grace.
Every child runs in its own process group and is stopped as a group, so nothing survives.

Services are found through the ``lectern.services`` entry point group; ``--spec module:attr`` (or
``LECTERN_DEVSTACK_SPECS``) adds specs that are not installed, which is how tests inject a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Literal

from lectern_common.devstack.editor import (
    DEFAULT_EDITOR_PORT,
    EditorMode,
    EditorServer,
    EditorUnavailable,
    editor_command,
    find_editor_dir,
)
from lectern_common.devstack.infra import Infra, InfraError, InfraUrls
from lectern_common.devstack.ports import free_port, port_answers
from lectern_common.devstack.process import ManagedProcess
from lectern_common.devstack.spec import ServiceSpec
from lectern_common.devstack.state import ServiceState, StackState
from lectern_common.settings import EDITOR_DEV_ORIGINS

ENTRY_POINT_GROUP = "lectern.services"
ENV_EXTRA_SPECS = "LECTERN_DEVSTACK_SPECS"

CORE_TOPICS: tuple[str, ...] = (
    "lectern.course.v1",
    "lectern.media.v1",
    "lectern.upload.v1",
    "lectern.engagement.v1",
)
DEFAULT_BUCKET = "lectern-media"

# Where each service is expected when it is not part of this run (ARCHITECTURE section 6).
DEFAULT_GRPC_PORTS = {"course": 50051, "media": 50052, "analytics": 50053, "upload": 50054}
DEFAULT_HTTP_PORTS = {"gateway": 8080, "upload": 8081, "realtime": 8082}
DEFAULT_PUBLISH_PORTS = {"realtime": 8083}

PortMode = Literal["default", "auto"]


class LaunchError(RuntimeError):
    """The stack could not be brought up; the message says which part and shows its output."""


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
    """Origins the gateway and upload allow browsers to call from (the editor's)."""
    start_timeout: float = 120.0
    stop_grace: float = 10.0
    infra_only: bool = False
    replicas: dict[str, int] = field(default_factory=dict)
    """Service name -> how many processes run it (default 1): ``upload=2`` adds ``upload-2`` on
    ports of its own, same database and settings (the fault tests run two upload replicas)."""
    editor: EditorMode = "auto"
    """Serve the reference editor: when built and Node.js is here (auto), never (off), or fail without it (require)."""
    editor_dir: Path | None = None


def load_spec(reference: str) -> ServiceSpec:
    """Load ``module:attribute`` (a :class:`ServiceSpec`, or a callable returning one)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise LaunchError(f"spec reference must look like module:attribute, got {reference!r}")
    value = getattr(importlib.import_module(module_name), attribute)
    spec = value() if callable(value) else value
    if not isinstance(spec, ServiceSpec):
        raise LaunchError(f"{reference} is not a ServiceSpec")
    return spec


def discover_specs(extra: Iterable[str] = (), only: set[str] | None = None) -> list[ServiceSpec]:
    """Every installed service (entry points) plus ``extra`` references, filtered by ``only``.

    Entry points outside ``only`` are not even loaded, so one broken service does not stop a
    developer from running the others.
    """
    specs: dict[str, ServiceSpec] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if only is not None and ep.name not in only:
            continue
        spec = ep.load()
        spec = spec() if callable(spec) else spec
        if not isinstance(spec, ServiceSpec):
            raise LaunchError(f"entry point {ep.name} = {ep.value} is not a ServiceSpec")
        specs[spec.name] = spec
    for reference in extra:
        spec = load_spec(reference)
        specs[spec.name] = spec
    chosen = [s for s in specs.values() if only is None or s.name in only]
    if only is not None:
        missing = only - {s.name for s in chosen}
        if missing:
            raise LaunchError(f"--only names unknown services: {', '.join(sorted(missing))}")
    return sorted(chosen, key=lambda s: s.name)


@dataclass(frozen=True)
class ServicePorts:
    grpc: int
    http: int
    publish: int = 0

    def listening(self) -> list[int]:
        return [p for p in (self.grpc, self.http, self.publish) if p]


def assign_ports(specs: Iterable[ServiceSpec], mode: PortMode) -> dict[str, ServicePorts]:
    """The documented defaults (refused if busy) or free ports; 0 stays 0 (port not used)."""
    assigned: dict[str, ServicePorts] = {}
    for spec in specs:
        if mode == "auto":
            assigned[spec.name] = ServicePorts(
                grpc=free_port() if spec.grpc_port else 0,
                http=free_port() if spec.http_port else 0,
                publish=free_port() if spec.publish_port else 0,
            )
        else:
            assigned[spec.name] = ServicePorts(grpc=spec.grpc_port, http=spec.http_port, publish=spec.publish_port)
    return assigned


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


class Console:
    """The launcher's stdout: its own lines marked ``[launcher]``, service lines by service name."""

    def __init__(self, stream: IO[str] | None = None, width: int = 9) -> None:
        self.stream = stream or sys.stdout
        self.width = width

    def launcher(self, message: str) -> None:
        self._write(f"[launcher] {message}")

    def service(self, name: str, line: str) -> None:
        self._write(f"{name:<{self.width}} | {line}")

    def _write(self, text: str) -> None:
        try:
            print(text, file=self.stream, flush=True)
        except (BrokenPipeError, ValueError):
            pass  # nobody reads our output any more; keep supervising


class SupervisedService:
    """One service: migrated once, started, and restarted with backoff whenever it exits."""

    min_backoff = 0.5
    max_backoff = 15.0
    healthy_after = 30.0
    """A run this long resets the backoff: it crashed, but not in a loop."""

    def __init__(
        self,
        spec: ServiceSpec,
        ports: ServicePorts,
        env: dict[str, str],
        database_url: str | None,
        run_dir: Path,
        console: Console,
        on_restarted: Callable[[], None],
        instance: str | None = None,
    ) -> None:
        self.spec = spec
        self.name = instance or spec.name
        """``upload``, or ``upload-2`` for a second replica of the same spec (``--replicas``)."""
        self.ports = ports
        self.env = env
        self.database_url = database_url
        self.log_file = run_dir / "logs" / f"{self.name}.log"
        self.console = console
        self.on_restarted = on_restarted
        self.restarts = 0
        self.process: ManagedProcess | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._announcers: set[asyncio.Task[None]] = set()

    @property
    def is_replica(self) -> bool:
        return self.name != self.spec.name

    def _command(self, verb: str) -> ManagedProcess:
        return ManagedProcess(
            self.name,
            [sys.executable, "-m", self.spec.module, verb],
            log_path=self.log_file,
            env=self.env,
            on_line=lambda line: self.console.service(self.name, line),
        )

    async def migrate(self, timeout: float) -> None:
        """Run ``python -m <module> migrate`` to completion; fail with its output."""
        process = self._command("migrate")
        await process.start()
        try:
            code = await asyncio.wait_for(process.wait(), timeout=timeout)
        except TimeoutError:
            await process.stop(grace=2)
            raise LaunchError(f"{self.name} migrate did not finish in {timeout:.0f}s") from None
        finally:
            if process.running:
                await process.stop(grace=2)
        if code != 0:
            raise LaunchError(f"{self.name} migrate failed with code {code}:\n{process.tail()}")

    async def start(self, timeout: float) -> None:
        """First start: the service must answer on its ports; an early exit fails the launch."""
        self.process = self._command("serve")
        await self.process.start()
        deadline = time.monotonic() + timeout
        while not await self._answers():
            if not self.process.running:
                code = await self.process.wait()
                raise LaunchError(
                    f"{self.name} exited with code {code} before it was ready; "
                    f"log {self.log_file}, last lines:\n{self.process.tail()}"
                )
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"{self.name} did not answer on ports {self.ports.listening()} in "
                    f"{timeout:.0f}s; log {self.log_file}, last lines:\n{self.process.tail()}"
                )
            await asyncio.sleep(0.1)
        self._task = asyncio.create_task(self._supervise(), name=f"supervise-{self.name}")

    async def _answers(self) -> bool:
        for port in self.ports.listening():
            if not await port_answers(port, timeout=0.5):
                return False
        return True

    async def _supervise(self) -> None:
        backoff = self.min_backoff
        while True:
            assert self.process is not None
            started = time.monotonic()
            code = await self.process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > self.healthy_after:
                backoff = self.min_backoff
            self.restarts += 1
            self.console.launcher(
                f"{self.name} exited with code {code}, restarting (restart {self.restarts}) in {backoff:.1f}s"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
            if self._stopping.is_set():
                return
            backoff = min(backoff * 2, self.max_backoff)
            # Kill leftovers of the dead process's group before its ports are needed again.
            self.process.signal_group(signal.SIGKILL)
            self.process = self._command("serve")
            await self.process.start()
            self.on_restarted()
            announcer = asyncio.create_task(self._announce_back(self.process))
            self._announcers.add(announcer)
            announcer.add_done_callback(self._announcers.discard)

    async def _announce_back(self, process: ManagedProcess) -> None:
        for _ in range(300):
            if not process.running:
                return
            if await self._answers():
                self.console.launcher(f"{self.name} is back (pid {process.pid})")
                return
            await asyncio.sleep(0.2)

    async def stop(self, grace: float) -> None:
        self._stopping.set()
        if self.process is not None:
            await self.process.stop(grace=grace)
            if self.process.outlived_grace and grace > 0:
                self.console.launcher(f"{self.name} did not exit {grace:.0f}s after SIGTERM: killed")
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=5)

    def kill_now(self) -> None:
        self._stopping.set()
        if self.process is not None:
            self.process.kill_now()

    def state(self) -> ServiceState:
        urls = {
            f"{label} ({self.name})" if self.is_replica else label: template.format(
                http_port=self.ports.http, grpc_port=self.ports.grpc, publish_port=self.ports.publish
            )
            for label, template in self.spec.urls.items()
        }
        return ServiceState(
            name=self.name,
            module=self.spec.module,
            pid=self.process.pid if self.process is not None else None,
            grpc_port=self.ports.grpc,
            http_port=self.ports.http,
            database_url=self.database_url,
            restarts=self.restarts,
            log_file=str(self.log_file),
            urls=urls,
            env={k: v for k, v in self.env.items() if k.startswith("LECTERN_")},
        )


# Which services get each key or secret (None: every service), as the Helm chart hands them out:
# a service runs with only the keys its purpose needs, so the dev stack shows that this is enough.
SECRET_HOLDERS: dict[str, frozenset[str] | None] = {
    "internal_token_private_key": frozenset({"gateway", "media"}),
    "internal_token_public_keys": None,
    "realtime_token_private_key": frozenset({"gateway"}),
    "realtime_token_public_keys": frozenset({"realtime"}),
    "upload_token_secret": frozenset({"upload"}),
    "realtime_publish_token": frozenset({"realtime", "upload"}),
}


@dataclass(frozen=True)
class StackSecrets:
    """Fresh keys and secrets for each launcher run (never the dev defaults the code falls back
    to), each handed only to the services that hold it in :data:`SECRET_HOLDERS`."""

    internal_token_private_key: str
    internal_token_public_keys: str
    realtime_token_private_key: str
    realtime_token_public_keys: str
    upload_token_secret: str
    realtime_publish_token: str

    @classmethod
    def generate(cls) -> StackSecrets:
        from lectern_common.token_keys import generate_key_pair

        internal_private, internal_public = generate_key_pair()
        realtime_private, realtime_public = generate_key_pair()
        return cls(
            internal_token_private_key=internal_private,
            internal_token_public_keys=internal_public,
            realtime_token_private_key=realtime_private,
            realtime_token_public_keys=realtime_public,
            upload_token_secret=secrets.token_urlsafe(32),
            realtime_publish_token=secrets.token_urlsafe(32),
        )

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SECRET_HOLDERS}

    def for_service(self, name: str) -> dict[str, str]:
        """The settings (field -> value) of the keys and secrets service ``name`` holds."""
        return {
            field: value
            for field, value in self.as_dict().items()
            if SECRET_HOLDERS[field] is None or name in (SECRET_HOLDERS[field] or ())
        }


def service_environment(
    spec: ServiceSpec,
    ports: dict[str, ServicePorts],
    urls: InfraUrls,
    stack_secrets: StackSecrets,
    database_url: str | None,
    bucket: str,
    log_json: bool,
    base: dict[str, str],
    cors_origins: tuple[str, ...] = EDITOR_DEV_ORIGINS,
) -> dict[str, str]:
    """Every ``ServiceSettings`` field the launcher owns, as ``LECTERN_<SERVICE>_<FIELD>``."""

    def grpc_target(name: str) -> str:
        port = ports[name].grpc if name in ports else DEFAULT_GRPC_PORTS[name]
        return f"127.0.0.1:{port}"

    def http_port(name: str) -> int:
        return ports[name].http if name in ports else DEFAULT_HTTP_PORTS[name]

    def publish_port(name: str) -> int:
        return ports[name].publish if name in ports else DEFAULT_PUBLISH_PORTS[name]

    own = ports[spec.name]
    fields: dict[str, str] = {
        "service_name": spec.name,
        "environment": "dev",
        "log_json": "true" if log_json else "false",
        "grpc_port": str(own.grpc),
        "http_port": str(own.http),
        "kafka_bootstrap": urls.kafka_bootstrap,
        "redis_url": urls.redis_url,
        "s3_endpoint": urls.s3_endpoint,
        "s3_region": urls.s3_region,
        "s3_access_key": urls.s3_access_key,
        "s3_secret_key": urls.s3_secret_key,
        "s3_bucket": bucket,
        **stack_secrets.for_service(spec.name),
        "course_grpc_target": grpc_target("course"),
        "media_grpc_target": grpc_target("media"),
        "analytics_grpc_target": grpc_target("analytics"),
        "upload_grpc_target": grpc_target("upload"),
        "upload_public_url": f"http://127.0.0.1:{http_port('upload')}/files/",
        "realtime_publish_url": f"http://127.0.0.1:{publish_port('realtime')}/v1/publish",
        "realtime_public_url": f"ws://127.0.0.1:{http_port('realtime')}/ws",
    }
    if database_url is not None:
        fields["database_url"] = database_url
    if own.publish:
        fields["publish_port"] = str(own.publish)
    if spec.name in ("gateway", "upload"):
        # The browser-facing services answer CORS for the editor's origin(s) of this run.
        fields["cors_allowed_origins"] = ",".join(cors_origins)
    env = dict(base)
    env.update({f"{spec.env_prefix}{key.upper()}": value for key, value in fields.items()})
    if spec.name == "gateway":
        # The dev login (on by default in dev anyway; said explicitly so `make up` never depends on it).
        env["LECTERN_GATEWAY_DEV_AUTH"] = "true"
        # Every client of a dev stack is 127.0.0.1 (browsers, tests, fuzzers at once): the
        # per-address buckets stay, sized for one machine's worth of clients.
        env.setdefault("LECTERN_GATEWAY_RATE_LIMIT_PER_CLIENT_PER_MINUTE", "60000")
        env.setdefault("LECTERN_GATEWAY_RATE_LIMIT_PER_CLIENT_BURST", "10000")
        env.setdefault("LECTERN_GATEWAY_DEV_TOKEN_PER_MINUTE", "1200")
        env.setdefault("LECTERN_GATEWAY_DEV_TOKEN_BURST", "300")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """One launcher per run directory: a second one would wipe the first one's data."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "launcher.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LaunchError(f"another launcher is using {run_dir}; stop it or pass --run-dir") from None
        handle.write(str(os.getpid()))
        handle.flush()
        yield


class Launcher:
    """Brings the stack up, keeps it up, and takes it down; one instance per ``up``."""

    def __init__(self, options: LauncherOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.infra = Infra(options.run_dir)
        self.secrets = StackSecrets.generate()
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

    async def start(self) -> None:
        """Everything up to "the stack answers"; raises :class:`LaunchError` or :class:`InfraError`."""
        options = self.options
        specs = discover_specs(options.extra_specs, options.only)
        if options.infra_only:
            specs = []
        unknown = set(options.replicas) - {s.name for s in specs}
        if unknown:
            raise LaunchError(f"--replicas names services that are not started: {', '.join(sorted(unknown))}")
        names = ", ".join(s.name for s in specs) or "none installed yet"
        self.console.launcher(f"services: {names}; run dir {options.run_dir}")

        ports = assign_ports(specs, options.ports)
        if options.ports == "default":
            await check_ports_free(ports)

        began = time.monotonic()
        await self.infra.start(timeout=options.start_timeout)
        self.console.launcher(f"infrastructure ready in {time.monotonic() - began:.1f}s")

        database_urls: dict[str, str | None] = {}
        for spec in specs:
            database_urls[spec.name] = (
                await self.infra.create_database(f"{options.database_prefix}{spec.database}") if spec.database else None
            )
        self.topics = sorted({*CORE_TOPICS, *(t for s in specs for t in s.topics)})
        await asyncio.gather(
            self.infra.create_topics(self.topics),
            self.infra.ensure_bucket(options.bucket, timeout=options.start_timeout),
        )

        base_env = {k: v for k, v in os.environ.items()}
        for spec in specs:
            env = service_environment(
                spec,
                ports,
                self.infra.urls,
                self.secrets,
                database_urls[spec.name],
                options.bucket,
                options.log_json,
                base_env,
                cors_origins=options.cors_origins,
            )
            self.services[spec.name] = SupervisedService(
                spec,
                ports[spec.name],
                env,
                database_urls[spec.name],
                options.run_dir,
                self.console,
                on_restarted=self.write_state,
            )

        for spec in specs:
            for number in range(2, options.replicas.get(spec.name, 1) + 1):
                instance = f"{spec.name}-{number}"
                own = ServicePorts(
                    grpc=free_port() if spec.grpc_port else 0,
                    http=free_port() if spec.http_port else 0,
                    publish=free_port() if spec.publish_port else 0,
                )
                env = service_environment(
                    spec,
                    {**ports, spec.name: own},
                    self.infra.urls,
                    self.secrets,
                    database_urls[spec.name],
                    options.bucket,
                    options.log_json,
                    base_env,
                    cors_origins=options.cors_origins,
                )
                self.services[instance] = SupervisedService(
                    spec,
                    own,
                    env,
                    database_urls[spec.name],
                    options.run_dir,
                    self.console,
                    on_restarted=self.write_state,
                    instance=instance,
                )

        # Replicas share their first instance's database: it is migrated once.
        to_migrate = [s for s in self.services.values() if s.database_url is not None and not s.is_replica]
        if to_migrate:
            self.console.launcher(f"migrating: {', '.join(s.name for s in to_migrate)}")
            began = time.monotonic()
            await asyncio.gather(*(s.migrate(options.start_timeout) for s in to_migrate))
            self.console.launcher(f"migrations done in {time.monotonic() - began:.1f}s")

        began = time.monotonic()
        results = await asyncio.gather(
            *(s.start(options.start_timeout) for s in self.services.values()), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise LaunchError("\n\n".join(str(f) for f in failures)) from failures[0]
        if self.services:
            self.console.launcher(f"services ready in {time.monotonic() - began:.1f}s")
        await self._start_editor(ports)

    async def _start_editor(self, ports: dict[str, ServicePorts]) -> None:
        """The editor, proxying to this run's gateway, upload and realtime (see :mod:`.editor`)."""
        options = self.options
        if options.editor == "off" or options.infra_only or "gateway" not in self.services:
            return

        def http_url(name: str) -> str:
            port = ports[name].http if name in ports else DEFAULT_HTTP_PORTS[name]
            return f"http://127.0.0.1:{port}"

        try:
            editor_dir = options.editor_dir or locate_editor()
            port = free_port() if options.ports == "auto" else DEFAULT_EDITOR_PORT
            if options.ports == "default" and await port_answers(port, timeout=0.3):
                raise EditorUnavailable(f"port {port} is already in use")
            editor = EditorServer(
                editor_command(editor_dir, port),
                port=port,
                gateway_url=http_url("gateway"),
                upload_url=http_url("upload"),
                realtime_url=http_url("realtime"),
                log_path=options.run_dir / "logs" / "editor.log",
                base_env=dict(os.environ),
                on_line=lambda line: self.console.service("editor", line),
            )
            self.editor = editor
            await editor.start(timeout=options.start_timeout)
        except EditorUnavailable as exc:
            if options.editor == "require":
                raise LaunchError(f"editor: {exc}") from None
            self.console.launcher(f"editor not started: {exc}")
            if self.editor is not None:
                await self.editor.stop(grace=0)
            self.editor = None

    def state(self) -> StackState:
        urls = self.infra.urls
        return StackState(
            launcher_pid=os.getpid(),
            run_dir=str(self.options.run_dir),
            infra=urls.to_dict(),
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
                starting = asyncio.create_task(launcher.start())
                stop_wait = asyncio.create_task(launcher.stop_requested.wait())
                await asyncio.wait({starting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if starting.done():
                    starting.result()
                    launcher.write_state()
                    launcher.announce()
                    await stop_wait
                else:
                    starting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await starting
                stop_wait.cancel()
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


def locate_editor() -> Path:
    """The workspace's ``clients/web/apps/editor``, from this file (an editable install) or the cwd."""
    found = find_editor_dir(Path(__file__).resolve()) or find_editor_dir(Path.cwd())
    if found is None:
        raise EditorUnavailable("clients/web/apps/editor not found in this workspace")
    return found


def default_run_dir() -> Path:
    """``.devstack/`` at the workspace root (found from the current directory), else here."""
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.exists() and "[tool.uv.workspace]" in pyproject.read_text():
            return candidate / ".devstack"
    return here / ".devstack"


def extra_specs_from_env() -> list[str]:
    raw = os.environ.get(ENV_EXTRA_SPECS, "")
    return [ref.strip() for ref in raw.split(",") if ref.strip()]
