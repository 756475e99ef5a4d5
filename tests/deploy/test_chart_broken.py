"""A broken chart or a wrong value fails before anything reaches a cluster, with a message that
names the culprit. Each case renders a deliberately broken copy of the chart or wrong values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from .chart import CHART, missing_deployments, render, service_names, template


def broken_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "lectern"
    shutil.copytree(CHART, copy)
    return copy


def test_a_service_without_its_deployment_is_caught(tmp_path: Path) -> None:
    """The check test_object_counts runs, on a copy that renders no analytics Deployment (the
    state the chart was in before: both analytics actions would answer UNAVAILABLE)."""
    chart = broken_copy(tmp_path)
    values = yaml.safe_load((chart / "values.yaml").read_text())
    values["services"]["analytics"]["enabled"] = False
    (chart / "values.yaml").write_text(yaml.safe_dump(values))
    assert missing_deployments(render(chart=chart), service_names()) == ["analytics"]


def test_a_service_dropped_from_the_values_fails_the_schema(tmp_path: Path) -> None:
    chart = broken_copy(tmp_path)
    values = yaml.safe_load((chart / "values.yaml").read_text())
    del values["services"]["analytics"]
    (chart / "values.yaml").write_text(yaml.safe_dump(values))
    result = template(chart=chart)
    assert result.returncode != 0
    assert "missing property 'analytics'" in result.stderr, result.stderr
    # Without the schema the render still refuses: the gateway calls analytics.
    (chart / "values.schema.json").unlink()
    result = template(chart=chart)
    assert result.returncode != 0
    assert "services.gateway calls analytics over gRPC, and services.analytics is missing" in result.stderr


def test_a_deployment_template_that_skips_a_service_is_caught(tmp_path: Path) -> None:
    chart = broken_copy(tmp_path)
    deployments = chart / "templates" / "deployments.yaml"
    text = deployments.read_text()
    assert "{{- if $svc.enabled }}" in text
    deployments.write_text(text.replace("{{- if $svc.enabled }}", '{{- if and $svc.enabled (ne $name "media") }}', 1))
    assert missing_deployments(render(chart=chart), service_names()) == ["media"]


def test_a_service_the_chart_has_no_wiring_for_fails_the_render(tmp_path: Path) -> None:
    chart = broken_copy(tmp_path)
    (chart / "values.schema.json").unlink()
    values = yaml.safe_load((chart / "values.yaml").read_text())
    values["services"]["search"] = dict(values["services"]["course"])
    (chart / "values.yaml").write_text(yaml.safe_dump(values))
    result = template(chart=chart)
    assert result.returncode != 0
    assert 'services.search: this chart has no wiring for "search"' in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"services": {"gateway": {"replicas": "two"}}}, "at '/services/gateway/replicas': got string, want integer"),
        ({"services": {"upload": {"ports": {"http": "8081"}}}}, "at '/services/upload/ports/http': got string, want"),
        ({"environment": "prod"}, "at '/environment'"),
        ({"ingress": {"hosts": "lectern.example.com"}}, "at '/ingress/hosts': got string, want array"),
        ({"services": {"course": {"secretKeys": {"REDIS_URL": "redis-url"}}}}, "additional properties 'REDIS_URL'"),
        ({"services": {"media": {"resources": {"requests": {"cpu": "lots"}}}}}, "/media/resources/requests/cpu"),
        ({"publicUrl": "lectern.example.com"}, "at '/publicUrl'"),
        ({"autoscale": True}, "additional properties 'autoscale' not allowed"),
        ({"cors": {"allowedOrigins": ["*"]}}, "at '/cors/allowedOrigins/0'"),
    ],
    ids=["replicas", "port", "environment", "hosts", "extra-secret", "cpu", "url", "typo-key", "cors-wildcard"],
)
def test_a_wrong_value_fails_with_a_clear_message(values: dict, message: str, tmp_path: Path) -> None:
    result = template(values=values, tmp_dir=tmp_path)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    assert message in result.stderr, result.stderr


def test_a_missing_secret_key_fails_with_its_name(tmp_path: Path) -> None:
    """Helm merges maps, so dropping a key takes a null."""
    result = template(values={"services": {"upload": {"secretKeys": {"UPLOAD_TOKEN_SECRET": None}}}}, tmp_dir=tmp_path)
    assert result.returncode != 0
    assert "at '/services/upload/secretKeys': missing property 'UPLOAD_TOKEN_SECRET'" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"devAuth": True}, 'devAuth: true needs environment: dev (got "production")'),
        ({"image": {"tag": "latest"}}, "image.tag: use a fixed version"),
        (
            {"services": {"gateway": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}},
            "services.gateway.autoscaling: minReplicas (5) is above maxReplicas (2)",
        ),
    ],
    ids=["dev-auth-in-production", "latest-tag", "hpa-bounds"],
)
def test_rules_across_values_fail_with_their_reason(values: dict, message: str, tmp_path: Path) -> None:
    result = template(values=values, tmp_dir=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
