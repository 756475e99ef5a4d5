"""What an SRE creates before `helm install` (the Secrets of charts/lectern/README.md), made for a
test: generated Ed25519 keys and 32+ byte secrets, the session's infrastructure credentials and a
database per service; and the environment the kubelet would hand a container from them."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .chart import RELEASE

SecretData = dict[tuple[str, str], str]
"""(Secret name, key) -> value."""


def ed25519_pair() -> tuple[str, str]:
    """(PKCS#8 PEM private key, SubjectPublicKeyInfo PEM public key), as openssl genpkey makes them."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def with_password(url: str) -> str:
    """``url`` with a generated 48-character password, as a production database URL has one (the
    test server trusts local connections, so it accepts any password)."""
    parts = urlsplit(url)
    if parts.password:
        return url
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user or 'postgres'}:{secrets.token_urlsafe(36)}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def secret_data(services: list[str], infra_urls: Any, database_urls: Mapping[str, str]) -> SecretData:
    """Every key of every service's Secret (lectern-<service>), with the README's key names."""
    internal_private, internal_public = ed25519_pair()
    realtime_private, realtime_public = ed25519_pair()
    shared = {
        "internal-token-private-key": internal_private,
        "internal-token-public-keys": internal_public,
        "realtime-token-private-key": realtime_private,
        "realtime-token-public-keys": realtime_public,
        "upload-token-secret": secrets.token_urlsafe(48),
        "realtime-publish-token": secrets.token_urlsafe(48),
        "redis-url": infra_urls.redis_url,
        "s3-access-key": infra_urls.s3_access_key,
        "s3-secret-key": infra_urls.s3_secret_key,
    }
    data: SecretData = {}
    for name in services:
        for key, value in shared.items():
            data[(f"lectern-{name}", key)] = value
        if name in database_urls:
            data[(f"lectern-{name}", "database-url")] = with_password(database_urls[name])
    return data


_CLUSTER_HOST = re.compile(rf"\b{re.escape(RELEASE)}-[a-z]+(-publish)?\b")


def container_env(container: Mapping[str, Any], data: SecretData, *, cluster_dns_to_localhost: bool) -> dict[str, str]:
    """The container's env with each secretKeyRef filled from ``data``; a reference to a key the
    README does not list fails. With ``cluster_dns_to_localhost``, <release>-<service> Service
    names become 127.0.0.1 (a process here has no cluster DNS)."""
    env: dict[str, str] = {}
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            key = (ref["name"], ref["key"])
            assert key in data, f"{item['name']} refers to {key}, a Secret key the README does not list"
            env[item["name"]] = data[key]
        else:
            value = item["value"]
            env[item["name"]] = _CLUSTER_HOST.sub("127.0.0.1", value) if cluster_dns_to_localhost else value
    return env
