"""Which services exist: every ``lectern.services`` entry point, plus specs named on the command line.

``--spec module:attr`` (or ``LECTERN_DEVSTACK_SPECS=a:B,c:D``) adds specs that are not installed,
which is how tests inject a fake service.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points

from lectern_common.devstack.errors import LaunchError
from lectern_common.devstack.spec import ServiceSpec

ENTRY_POINT_GROUP = "lectern.services"
ENV_EXTRA_SPECS = "LECTERN_DEVSTACK_SPECS"


@dataclass(frozen=True)
class Catalogue:
    """The services to start, and every service known (for the addresses and topics of those
    that are not started: a started service still reaches them at their default ports)."""

    chosen: list[ServiceSpec]
    known: list[ServiceSpec]
    skipped: dict[str, str]
    """Entry points outside ``--only`` that failed to load: name -> error (reported, not fatal)."""


def _as_spec(value: object, where: str) -> ServiceSpec:
    spec = value() if callable(value) else value
    if not isinstance(spec, ServiceSpec):
        raise LaunchError(f"{where} is not a ServiceSpec")
    return spec


def load_spec(reference: str) -> ServiceSpec:
    """Load ``module:attribute`` (a :class:`ServiceSpec`, or a callable returning one)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise LaunchError(f"spec reference must look like module:attribute, got {reference!r}")
    return _as_spec(getattr(importlib.import_module(module_name), attribute), reference)


def discover(extra: Iterable[str] = (), only: set[str] | None = None) -> Catalogue:
    """Every installed service (entry points) plus ``extra`` references; ``only`` filters the chosen.

    An entry point outside ``only`` that fails to load is skipped, so one broken service does
    not stop a developer from running the others.
    """
    specs: dict[str, ServiceSpec] = {}
    skipped: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = _as_spec(ep.load(), f"entry point {ep.name} = {ep.value}")
        except Exception as exc:
            if only is None or ep.name in only:
                raise LaunchError(f"entry point {ep.name} = {ep.value}: {exc}") from exc
            skipped[ep.name] = str(exc)
            continue
        specs[spec.name] = spec
    for reference in extra:
        spec = load_spec(reference)
        specs[spec.name] = spec
    known = sorted(specs.values(), key=lambda s: s.name)
    chosen = [s for s in known if only is None or s.name in only]
    missing = (only or set()) - {s.name for s in chosen}
    if missing:
        raise LaunchError(f"--only names unknown services: {', '.join(sorted(missing))}")
    return Catalogue(chosen=chosen, known=known, skipped=skipped)


def discover_specs(extra: Iterable[str] = (), only: set[str] | None = None) -> list[ServiceSpec]:
    """The services to start (see :func:`discover`)."""
    return discover(extra, only).chosen


def extra_specs_from_env() -> list[str]:
    raw = os.environ.get(ENV_EXTRA_SPECS, "")
    return [ref.strip() for ref in raw.split(",") if ref.strip()]
