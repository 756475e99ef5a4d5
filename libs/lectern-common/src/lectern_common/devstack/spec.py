"""How a service describes itself to the dev stack launcher.

Each service package exposes a :class:`ServiceSpec` through the ``lectern.services`` entry point
group (``[project.entry-points."lectern.services"] course = "lectern_course.launch:SPEC"``), so the
launcher starts exactly the services that exist in the workspace, without a list to keep in sync.

Everything the launcher knows about one service is here: its ports, database, topics, the keys
it holds, the settings it alone gets, how the others reach it, and how many processes run it. The
launcher knows none of them by name: adding a service is adding its ``launch.py`` and entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceSpec:
    """One service as the launcher runs it: supervised processes, optional database and ports."""

    name: str
    """Short name: ``course``; the env prefix is ``LECTERN_COURSE_``."""
    module: str
    """Python module run as ``python -m <module> serve`` (and ``migrate`` when it has a database)."""
    grpc_port: int = 0
    """Default gRPC port under ``make up`` (0: none). Tests get free ports instead."""
    http_port: int = 0
    """Default HTTP port under ``make up`` (0: none)."""
    publish_port: int = 0
    """Default internal HTTP port (realtime's ``POST /v1/publish``; 0: none), set as
    ``PUBLISH_PORT``; never exposed beside the public one."""
    database: str | None = None
    """Database name this service owns (created, then migrated, before it starts)."""
    topics: tuple[str, ...] = ()
    """Kafka topics this service produces (created before any service starts, whether or not
    this service is started: its consumers' topics must exist)."""
    urls: Mapping[str, str] = field(default_factory=dict)
    """Printed by ``make up``: label -> URL template, ``{http_port}``/``{grpc_port}``/``{publish_port}``
    filled in."""
    offers: Mapping[str, str] = field(default_factory=dict)
    """How every service reaches this one: setting -> template (``course_grpc_target`` ->
    ``127.0.0.1:{grpc_port}``), handed to each service of the run, this one included. When this
    service is not started (``--only``), its default ports fill the template."""
    secrets: frozenset[str] = frozenset()
    """The keys and secrets this service holds besides the internal public keys every service
    gets (names of :class:`~lectern_common.devstack.environment.StackSecrets` fields), as the Helm
    chart hands them out: a service runs with only what its purpose needs."""
    settings: Mapping[str, str] = field(default_factory=dict)
    """Settings only this service gets in the dev stack (field -> value, under its own prefix),
    whatever the environment says."""
    setting_defaults: Mapping[str, str] = field(default_factory=dict)
    """Like :attr:`settings`, but a value already in the environment wins."""
    browser_facing: bool = False
    """Browsers call it (from the editor's origins): it gets the run's ``CORS_ALLOWED_ORIGINS``."""
    replicas: int = 1
    """Processes ``make up`` runs (``--replicas NAME=N`` overrides): the second is ``<name>-2``,
    on ports of its own, with the same database and settings."""

    @property
    def env_prefix(self) -> str:
        return f"LECTERN_{self.name.upper()}_"
