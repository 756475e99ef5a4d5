"""What the launcher hands each service: every ``ServiceSettings`` field it owns, under its prefix.

The plumbing fields (ports, infrastructure, the bucket) are the same for every service, as
:mod:`lectern_common.settings` documents; everything that differs from one service to another
comes from its :class:`~lectern_common.devstack.spec.ServiceSpec`: the keys it holds, how it
reaches the others (their ``offers``), the settings it alone gets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from lectern_common.devstack.infra import InfraUrls
from lectern_common.devstack.keys import StackSecrets
from lectern_common.devstack.ports import free_port
from lectern_common.devstack.spec import ServiceSpec
from lectern_common.settings import EDITOR_DEV_ORIGINS


@dataclass(frozen=True)
class ServicePorts:
    """The ports one process of a service listens on in this run (0: not used)."""

    grpc: int
    http: int
    publish: int = 0

    def listening(self) -> list[int]:
        return [p for p in (self.grpc, self.http, self.publish) if p]

    @classmethod
    def defaults(cls, spec: ServiceSpec) -> ServicePorts:
        return cls(grpc=spec.grpc_port, http=spec.http_port, publish=spec.publish_port)

    def fill(self, template: str) -> str:
        return template.format(grpc_port=self.grpc, http_port=self.http, publish_port=self.publish)


PortMode = Literal["default", "auto"]


def free_ports_for(spec: ServiceSpec) -> ServicePorts:
    """Free ports for each port ``spec`` uses (0 stays 0: port not used)."""
    return ServicePorts(
        grpc=free_port() if spec.grpc_port else 0,
        http=free_port() if spec.http_port else 0,
        publish=free_port() if spec.publish_port else 0,
    )


def assign_ports(specs: Iterable[ServiceSpec], mode: PortMode) -> dict[str, ServicePorts]:
    """The documented defaults (``default``) or free ports (``auto``), by service name."""
    return {spec.name: free_ports_for(spec) if mode == "auto" else ServicePorts.defaults(spec) for spec in specs}


@dataclass(frozen=True)
class StackSettings:
    """What is the same for every service of one run."""

    urls: InfraUrls
    secrets: StackSecrets
    bucket: str
    log_json: bool
    base: Mapping[str, str]
    """The environment the services inherit (the launcher's own)."""
    cors_origins: tuple[str, ...] = EDITOR_DEV_ORIGINS
    """Origins browser-facing services allow (the editor's)."""

    def plumbing(self) -> dict[str, str]:
        urls = self.urls
        return {
            "environment": "dev",
            "log_json": "true" if self.log_json else "false",
            "kafka_bootstrap": urls.kafka_bootstrap,
            "redis_url": urls.redis_url,
            "s3_endpoint": urls.s3_endpoint,
            "s3_region": urls.s3_region,
            "s3_access_key": urls.s3_access_key,
            "s3_secret_key": urls.s3_secret_key,
            "s3_bucket": self.bucket,
        }


def peer_settings(known: Iterable[ServiceSpec], ports: Mapping[str, ServicePorts]) -> dict[str, str]:
    """Every service's ``offers``, filled with its ports in this run, else with its defaults."""
    found: dict[str, str] = {}
    for spec in known:
        own = ports.get(spec.name) or ServicePorts.defaults(spec)
        found.update({setting: own.fill(template) for setting, template in spec.offers.items()})
    return found


def service_environment(
    spec: ServiceSpec,
    own: ServicePorts,
    peers: Mapping[str, str],
    database_url: str | None,
    stack: StackSettings,
) -> dict[str, str]:
    """Every ``ServiceSettings`` field the launcher owns, as ``LECTERN_<SERVICE>_<FIELD>``."""
    settings: dict[str, str] = {
        "service_name": spec.name,
        **stack.plumbing(),
        "grpc_port": str(own.grpc),
        "http_port": str(own.http),
        **stack.secrets.for_service(spec),
        **peers,
    }
    if database_url is not None:
        settings["database_url"] = database_url
    if own.publish:
        settings["publish_port"] = str(own.publish)
    if spec.browser_facing:
        settings["cors_allowed_origins"] = ",".join(stack.cors_origins)
    settings.update(spec.settings)
    env = dict(stack.base)
    env.update({f"{spec.env_prefix}{key.upper()}": value for key, value in settings.items()})
    for key, value in spec.setting_defaults.items():
        env.setdefault(f"{spec.env_prefix}{key.upper()}", value)
    env["PYTHONUNBUFFERED"] = "1"
    return env
