"""Rendering charts/lectern with the pinned Helm, and reading what it renders.

Helm is installed by scripts/install-helm.sh into .tools/helm/helm (``make test`` runs it first);
LECTERN_HELM names another binary. A missing Helm fails the chart tests rather than skipping them:
the chart is part of what ships.
"""

from __future__ import annotations

import copy
import functools
import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "lectern"
PRODUCTION_VALUES = CHART / "values-production.yaml"
DEV_VALUES = CHART / "values-dev.yaml"
RELEASE = "lectern"
KUBERNETES_VERSION = "1.35.0"
"""The Kubernetes version the pinned Helm's client library speaks (helm version: KubeClientVersion)."""

Manifest = dict[str, Any]


def service_names() -> list[str]:
    """Every service of the suite: the directories under services/."""
    return sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").is_file())


def services_with_migrations() -> list[str]:
    return [name for name in service_names() if (REPO / "services" / name / "migrations").is_dir()]


def helm_binary() -> str:
    helm = os.environ.get("LECTERN_HELM") or str(REPO / ".tools" / "helm" / "helm")
    if not Path(helm).is_file():
        pytest.fail(f"helm not found at {helm}: run scripts/install-helm.sh (make test does)")
    return helm


def helm(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def _value_args(values_files: Iterable[Path], values: Mapping[str, Any] | None, tmp_dir: Path | None) -> list[str]:
    args: list[str] = []
    for path in values_files:
        args += ["-f", str(path)]
    if values:
        assert tmp_dir is not None, "values need a directory to write their file to"
        path = tmp_dir / f"values-{len(list(tmp_dir.glob('values-*.yaml')))}.yaml"
        path.write_text(yaml.safe_dump(dict(values)))
        args += ["-f", str(path)]
    return args


def template(
    *values_files: Path,
    values: Mapping[str, Any] | None = None,
    tmp_dir: Path | None = None,
    chart: Path = CHART,
) -> subprocess.CompletedProcess[str]:
    """``helm template`` as is (its exit code and stderr are the test's to check)."""
    return helm(
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        "lectern",
        "--kube-version",
        KUBERNETES_VERSION,
        *_value_args(values_files, values, tmp_dir),
    )


def render(
    *values_files: Path,
    values: Mapping[str, Any] | None = None,
    tmp_dir: Path | None = None,
    chart: Path = CHART,
) -> list[Manifest]:
    """The rendered objects; a failed render fails the test with Helm's message. Renders of the
    committed chart with values files only are made once per session (each caller gets a copy)."""
    if values is None and chart == CHART:
        return copy.deepcopy(_render_committed(values_files))
    return _render(*values_files, values=values, tmp_dir=tmp_dir, chart=chart)


@functools.cache
def _render_committed(values_files: tuple[Path, ...]) -> list[Manifest]:
    return _render(*values_files, chart=CHART)


def _render(
    *values_files: Path,
    values: Mapping[str, Any] | None = None,
    tmp_dir: Path | None = None,
    chart: Path = CHART,
) -> list[Manifest]:
    result = template(*values_files, values=values, tmp_dir=tmp_dir, chart=chart)
    if result.returncode != 0:
        pytest.fail(f"helm template failed ({result.returncode}):\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(manifests: Iterable[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def pod_templates(manifests: Iterable[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """(kind/name, pod template) of every workload that runs pods."""
    for m in manifests:
        if m["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]


def missing_deployments(manifests: Iterable[Manifest], services: Iterable[str]) -> list[str]:
    """Services with no Deployment named <release>-<service> in the rendering."""
    deployments = of_kind(manifests, "Deployment")
    return [name for name in services if f"{RELEASE}-{name}" not in deployments]


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects these labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True
