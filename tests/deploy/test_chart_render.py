"""charts/lectern renders what an SRE installs: lint, strict schema validation, one Deployment per
service, the agreed secret scheme, the Ingress and production defaults."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from .chart import (
    CHART,
    DEV_VALUES,
    KUBERNETES_VERSION,
    PRODUCTION_VALUES,
    RELEASE,
    helm,
    missing_deployments,
    of_kind,
    pod_templates,
    render,
    service_names,
    services_with_migrations,
)

VALUES_SETS = {"default": (), "production-example": (PRODUCTION_VALUES,), "dev": (DEV_VALUES,)}

# common.md's agreed scheme: each service gets exactly these settings from its Secret.
SECRET_SETTINGS = {
    "gateway": {"INTERNAL_TOKEN_PRIVATE_KEY", "REALTIME_TOKEN_PRIVATE_KEY", "REDIS_URL"},
    "course": {"INTERNAL_TOKEN_PUBLIC_KEYS", "DATABASE_URL"},
    "media": {
        "INTERNAL_TOKEN_PRIVATE_KEY",
        "INTERNAL_TOKEN_PUBLIC_KEYS",
        "DATABASE_URL",
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
    },
    "analytics": {"INTERNAL_TOKEN_PUBLIC_KEYS", "DATABASE_URL", "REDIS_URL"},
    "upload": {
        "INTERNAL_TOKEN_PUBLIC_KEYS",
        "UPLOAD_TOKEN_SECRET",
        "REALTIME_PUBLISH_TOKEN",
        "DATABASE_URL",
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
    },
    "realtime": {"REALTIME_TOKEN_PUBLIC_KEYS", "REALTIME_PUBLISH_TOKEN", "REDIS_URL"},
}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(workload: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container(workload)["env"]}


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_helm_lint_strict(values_set: str) -> None:
    args = [arg for path in VALUES_SETS[values_set] for arg in ("-f", str(path))]
    result = helm("lint", "--strict", str(CHART), *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values_set", list(VALUES_SETS))
def test_rendered_manifests_validate_strictly(values_set: str, tmp_path: Path) -> None:
    """kubernetes-validate --strict: every object against Kubernetes' own schemas, unknown fields refused."""
    files = [arg for path in VALUES_SETS[values_set] for arg in ("-f", str(path))]
    result = helm("template", RELEASE, str(CHART), "--kube-version", KUBERNETES_VERSION, *files, check=True)
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(result.stdout)
    validate = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION, "--quiet", str(rendered)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "failed" not in validate.stdout.lower()


def test_object_counts_follow_the_services_directory() -> None:
    """One Deployment, Service, HPA and PDB per directory under services/, a migration Job for
    each service with migrations, one Ingress, one ServiceAccount, a NetworkPolicy per service
    plus the default deny, and realtime's separate publish Service."""
    services = service_names()
    manifests = render()
    counts = Counter(m["kind"] for m in manifests)
    print("rendered objects:", dict(sorted(counts.items())))
    assert missing_deployments(manifests, services) == []
    assert counts["Deployment"] == len(services)
    assert counts["HorizontalPodAutoscaler"] == len(services)
    assert counts["PodDisruptionBudget"] == len(services)
    assert counts["Service"] == len(services) + 1  # + <release>-realtime-publish
    assert counts["NetworkPolicy"] == len(services) + 1
    assert counts["Ingress"] == 1
    assert counts["ServiceAccount"] == 1
    jobs = of_kind(manifests, "Job")
    assert sorted(jobs) == sorted(f"{RELEASE}-{name}-migrate" for name in services_with_migrations())
    for job in jobs.values():
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert container(job)["args"] == ["migrate"]


def test_hpa_and_pdb_target_their_deployment() -> None:
    manifests = render()
    deployments = of_kind(manifests, "Deployment")
    for name, hpa in of_kind(manifests, "HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert "replicas" not in deployments[name]["spec"], "the HPA owns the replica count"
    for name, pdb in of_kind(manifests, "PodDisruptionBudget").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for name, deployment in deployments.items():
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, name


def test_each_service_gets_exactly_its_secrets_by_reference() -> None:
    manifests = render()
    assert set(SECRET_SETTINGS) == set(service_names()), "a new service needs its row in the secret scheme"
    workloads = {**of_kind(manifests, "Deployment"), **of_kind(manifests, "Job")}
    for workload_name, workload in workloads.items():
        service = workload_name.removeprefix(f"{RELEASE}-").removesuffix("-migrate")
        prefix = f"LECTERN_{service.upper()}_"
        from_secret = {
            name.removeprefix(prefix): e["valueFrom"]["secretKeyRef"]
            for name, e in env_of(workload).items()
            if "valueFrom" in e
        }
        assert set(from_secret) == SECRET_SETTINGS[service], workload_name
        assert {ref["name"] for ref in from_secret.values()} == {f"lectern-{service}"}, workload_name
        plain = {name for name, e in env_of(workload).items() if "value" in e}
        assert not {prefix + s for s in SECRET_SETTINGS[service]} & plain, f"{workload_name}: a secret as a plain value"
        for name in plain:
            assert not any(word in name for word in ("PRIVATE_KEY", "SECRET", "PASSWORD", "TOKEN_SECRET")), name


def test_every_pod_runs_in_production_by_default_and_dev_only_in_dev_values() -> None:
    for values_files, expected in (((), "production"), ((PRODUCTION_VALUES,), "production"), ((DEV_VALUES,), "dev")):
        for name, pod in pod_templates(render(*values_files)):
            (only,) = pod["spec"]["containers"]
            service = name.split("/", 1)[1].removeprefix(f"{RELEASE}-").removesuffix("-migrate")
            env = {e["name"]: e.get("value") for e in only["env"]}
            assert env[f"LECTERN_{service.upper()}_ENVIRONMENT"] == expected, name
            if service == "gateway":
                assert env["LECTERN_GATEWAY_DEV_AUTH"] == ("true" if expected == "dev" else "false")


def test_gateway_gets_oidc_and_public_urls_from_values() -> None:
    manifests = render(PRODUCTION_VALUES)
    gateway = {k: e.get("value") for k, e in env_of(of_kind(manifests, "Deployment")[f"{RELEASE}-gateway"]).items()}
    assert gateway["LECTERN_GATEWAY_OIDC_ISSUER"] == "https://login.example.org/realms/lectern"
    assert gateway["LECTERN_GATEWAY_OIDC_AUDIENCE"] == "lectern"
    assert gateway["LECTERN_GATEWAY_OIDC_JWKS_URL"].startswith("https://login.example.org/")
    assert gateway["LECTERN_GATEWAY_REALTIME_PUBLIC_URL"] == "wss://learn.example.org/ws"
    assert gateway["LECTERN_GATEWAY_CORS_ALLOWED_ORIGINS"] == '["https://studio.example.org"]'
    upload = {k: e.get("value") for k, e in env_of(of_kind(manifests, "Deployment")[f"{RELEASE}-upload"]).items()}
    assert upload["LECTERN_UPLOAD_UPLOAD_PUBLIC_URL"] == "https://learn.example.org/files/"
    assert upload["LECTERN_UPLOAD_REALTIME_PUBLISH_URL"] == f"http://{RELEASE}-realtime-publish:8083/v1/publish"
    realtime = {k: e.get("value") for k, e in env_of(of_kind(manifests, "Deployment")[f"{RELEASE}-realtime"]).items()}
    assert realtime["LECTERN_REALTIME_HTTP_PORT"] == "8082"
    assert realtime["LECTERN_REALTIME_PUBLISH_PORT"] == "8083"


def _paths(ingress: dict) -> dict[tuple[str, str], dict]:
    return {(rule["host"], path["path"]): path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]}


def test_one_ingress_routes_the_three_public_doors() -> None:
    manifests = render(PRODUCTION_VALUES)
    (ingress,) = of_kind(manifests, "Ingress").values()
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "learn-example-org-tls", "hosts": ["learn.example.org"]}]
    routes = {
        path: (p["pathType"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
        for (host, path), p in _paths(ingress).items()
        if host == "learn.example.org"
    }
    assert routes == {
        "/actions": ("Prefix", f"{RELEASE}-gateway", "http"),
        "/files/": ("Prefix", f"{RELEASE}-upload", "http"),
        "/ws": ("Prefix", f"{RELEASE}-realtime", "http"),
    }
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"  # tus bodies: no cap
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"  # the values' own annotations too


def test_dev_auth_is_routed_only_in_dev_values() -> None:
    (default,) = of_kind(render(), "Ingress").values()
    assert "/auth" not in {path for _, path in _paths(default)}
    (dev,) = of_kind(render(DEV_VALUES), "Ingress").values()
    assert {path for _, path in _paths(dev)} == {"/actions", "/auth", "/files/", "/ws"}
    assert "tls" not in dev["spec"]


def test_realtime_publish_port_is_never_public() -> None:
    manifests = render(PRODUCTION_VALUES)
    services = of_kind(manifests, "Service")
    public = services[f"{RELEASE}-realtime"]
    assert [p["name"] for p in public["spec"]["ports"]] == ["http"]
    publish = services[f"{RELEASE}-realtime-publish"]
    assert [(p["name"], p["port"]) for p in publish["spec"]["ports"]] == [("publish", 8083)]
    (ingress,) = of_kind(manifests, "Ingress").values()
    backends = {p["backend"]["service"]["name"] for p in _paths(ingress).values()}
    assert f"{RELEASE}-realtime-publish" not in backends
    policy = of_kind(manifests, "NetworkPolicy")[f"{RELEASE}-realtime-ingress"]
    for rule in policy["spec"]["ingress"]:
        if any(p["port"] == "publish" for p in rule["ports"]):
            upload = {"app.kubernetes.io/name": "upload", "app.kubernetes.io/instance": RELEASE}
            assert rule["from"] == [{"podSelector": {"matchLabels": upload}}]
        else:
            assert [p["port"] for p in rule["ports"]] == ["http"]
