"""How a service describes itself to the dev stack launcher.

Each service package exposes a :class:`ServiceSpec` through the ``lectern.services`` entry point
group (``[project.entry-points."lectern.services"] course = "lectern_course.launch:SPEC"``), so the
launcher starts exactly the services that exist in the workspace, without a list to keep in sync.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceSpec:
    """One service as the launcher runs it: one supervised process, optional database and ports."""

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
    uses_bucket: bool = False
    topics: tuple[str, ...] = ()
    """Kafka topics this service produces (created before any service starts)."""
    urls: dict[str, str] = field(default_factory=dict)
    """Printed by ``make up``: label -> URL template, ``{http_port}``/``{grpc_port}``/``{publish_port}``
    filled in."""

    @property
    def env_prefix(self) -> str:
        return f"LECTERN_{self.name.upper()}_"
