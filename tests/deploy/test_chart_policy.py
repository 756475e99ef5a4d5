"""Policy checks on every rendered pod (Deployments and migration Jobs), as plain assertions:
what a cluster's admission policy (Pod Security "restricted") and an SRE's review would refuse."""

from __future__ import annotations

import pytest

from .chart import DEV_VALUES, PRODUCTION_VALUES, RELEASE, of_kind, pod_templates, render, selects

VALUES_SETS = {"default": (), "production-example": (PRODUCTION_VALUES,), "dev": (DEV_VALUES,)}


@pytest.fixture(scope="module", params=list(VALUES_SETS))
def manifests(request: pytest.FixtureRequest) -> list[dict]:
    return render(*VALUES_SETS[request.param])


def test_every_container_is_locked_down(manifests: list[dict]) -> None:
    pods = list(pod_templates(manifests))
    assert pods
    for name, pod in pods:
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{name}/{c['name']}"
            security = c["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security.get("privileged") is not True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert not security["capabilities"].get("add"), where


def test_every_container_has_resources(manifests: list[dict]) -> None:
    for name, pod in pod_templates(manifests):
        for c in pod["spec"]["containers"]:
            resources = c["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"], name
            assert resources["limits"]["memory"], name


def test_every_service_container_has_probes(manifests: list[dict]) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            assert c.get("livenessProbe"), f"{name}: no liveness probe"
            assert c.get("readinessProbe"), f"{name}: no readiness probe"
            declared = {p["name"] for p in c["ports"]} | {p["containerPort"] for p in c["ports"]}
            for probe in (c["livenessProbe"], c["readinessProbe"]):
                port = next(v["port"] for k, v in probe.items() if k in ("httpGet", "grpc", "tcpSocket"))
                assert port in declared, f"{name}: probe on undeclared port {port}"


def test_images_are_pinned(manifests: list[dict]) -> None:
    for name, pod in pod_templates(manifests):
        for c in pod["spec"]["containers"]:
            image = c["image"]
            repository, _, tag = image.rpartition(":")
            assert repository and "/" in repository and tag, f"{name}: {image} has no tag"
            assert tag != "latest", f"{name}: {image}"


def test_service_account_token_is_never_mounted(manifests: list[dict]) -> None:
    accounts = of_kind(manifests, "ServiceAccount")
    assert accounts
    for name, account in accounts.items():
        assert account["automountServiceAccountToken"] is False, name
    for name, deployment in of_kind(manifests, "Deployment").items():
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] in accounts, name


def test_network_policies_select_every_pod(manifests: list[dict]) -> None:
    """Every pod is under a default-deny Ingress policy; every service pod also has a policy of
    its own that opens only its ports, to named peers."""
    policies = list(of_kind(manifests, "NetworkPolicy").values())
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
    for name, pod in pod_templates(manifests):
        labels = pod["metadata"]["labels"]
        matching = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
        assert matching, f"{name}: no NetworkPolicy selects it"
        assert any(not p["spec"].get("ingress") for p in matching), f"{name}: not under a default deny"
    for name, deployment in of_kind(manifests, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        own = [p for p in policies if p["metadata"]["name"] == f"{name}-ingress"]
        assert own and selects(own[0]["spec"]["podSelector"], labels), f"{name}: no policy of its own"
        ports = {p["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        for rule in own[0]["spec"].get("ingress", []):
            assert rule["from"], f"{name}: a rule open to every source"
            for port in rule["ports"]:
                assert port["port"] in ports, f"{name}: policy opens {port['port']}, not a port of the pod"


def test_internal_services_are_reachable_only_from_their_callers() -> None:
    policies = of_kind(render(), "NetworkPolicy")
    expected_callers = {"course": {"gateway", "media"}, "media": {"gateway"}, "analytics": {"gateway"}}
    for service, callers in expected_callers.items():
        (rule,) = policies[f"{RELEASE}-{service}-ingress"]["spec"]["ingress"]
        assert {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["from"]} == callers
        assert [p["port"] for p in rule["ports"]] == ["grpc"]
