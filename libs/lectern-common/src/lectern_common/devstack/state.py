"""The launcher's state file: every URL, port, pid and secret of a running stack, as JSON.

The launcher writes it once the whole stack answers and rewrites it when a service is restarted
(its pid changes), always atomically, so a reader never sees half a file. Tests start the launcher
with ``--state-file`` and read this instead of parsing its output.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServiceState:
    """One running service as the launcher started it."""

    name: str
    module: str
    pid: int | None
    grpc_port: int
    http_port: int
    database_url: str | None
    restarts: int
    log_file: str
    urls: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    """The ``LECTERN_*`` variables the launcher set for it (settings of this run)."""

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


@dataclass(frozen=True)
class StackState:
    """The whole stack; ``urls`` is what ``make up`` prints, label -> URL."""

    launcher_pid: int
    run_dir: str
    infra: dict[str, str]
    infra_pids: dict[str, int]
    secrets: dict[str, str]
    s3_bucket: str
    topics: list[str]
    urls: dict[str, str]
    services: dict[str, ServiceState]
    written_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StackState:
        services = {name: ServiceState(**svc) for name, svc in raw.get("services", {}).items()}
        return cls(**{**raw, "services": services})

    def write(self, path: Path) -> None:
        """Write atomically (temp file + rename): readers see the old file or the new one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        tmp.chmod(0o600)  # it holds the run's secrets
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> StackState:
        return cls.from_dict(json.loads(path.read_text()))
