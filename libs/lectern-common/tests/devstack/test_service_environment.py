"""What the launcher hands each service: every ServiceSettings field it owns, under its prefix.

The specs are the installed services' own (``lectern.services`` entry points), so these tests
check what each service's ``launch.py`` declares as much as how the launcher hands it out.
"""

from __future__ import annotations

import pytest
from lectern_common.devstack.catalogue import discover, discover_specs
from lectern_common.devstack.environment import (
    ServicePorts,
    StackSettings,
    peer_settings,
    service_environment,
)
from lectern_common.devstack.errors import LaunchError
from lectern_common.devstack.infra import InfraUrls
from lectern_common.devstack.keys import StackSecrets
from lectern_common.devstack.spec import ServiceSpec
from lectern_common.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

URLS = InfraUrls(
    database_admin_url="postgresql://postgres@127.0.0.1:5999/postgres",
    redis_url="redis://127.0.0.1:6999/0",
    kafka_bootstrap="127.0.0.1:9999",
    s3_endpoint="http://127.0.0.1:8999",
    s3_access_key="ak",
    s3_secret_key="sk",
)
KNOWN = {spec.name: spec for spec in discover().known}
# A run of course and upload only (``--only course,upload``) on free ports.
PORTS = {"course": ServicePorts(grpc=41001, http=0), "upload": ServicePorts(grpc=41002, http=41003)}
SECRETS = StackSecrets.generate()


class CourseSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LECTERN_COURSE_", extra="ignore", frozen=True)


def stack(log_json: bool = False, bucket: str = "lectern-media") -> StackSettings:
    return StackSettings(urls=URLS, secrets=SECRETS, bucket=bucket, log_json=log_json, base={"PATH": "/bin"})


def env_of(name: str, ports: dict[str, ServicePorts] | None = None, database_url: str | None = None) -> dict[str, str]:
    ports = PORTS if ports is None else ports
    spec = KNOWN[name]
    own = ports.get(name, ServicePorts.defaults(spec))
    return service_environment(spec, own, peer_settings(KNOWN.values(), ports), database_url, stack())


def course_env() -> dict[str, str]:
    return env_of("course", database_url=URLS.database_url("lectern_course"))


def test_service_settings_read_every_value_the_launcher_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in course_env().items():
        monkeypatch.setenv(key, value)

    settings = CourseSettings()

    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5999/lectern_course"
    assert settings.grpc_port == 41001
    assert settings.http_port == 0
    assert settings.kafka_bootstrap == "127.0.0.1:9999"
    assert settings.redis_url == "redis://127.0.0.1:6999/0"
    assert settings.s3_endpoint == "http://127.0.0.1:8999"
    assert settings.s3_access_key.get_secret_value() == "ak"
    assert settings.s3_secret_key.get_secret_value() == "sk"
    assert settings.s3_bucket == "lectern-media"
    assert settings.internal_token_public_keys == SECRETS.internal_token_public_keys
    assert settings.log_json is False
    assert settings.service_name == "course"


def test_targets_point_at_services_of_this_run_and_defaults_for_the_others() -> None:
    env = course_env()

    assert env["LECTERN_COURSE_COURSE_GRPC_TARGET"] == "127.0.0.1:41001"
    assert env["LECTERN_COURSE_UPLOAD_GRPC_TARGET"] == "127.0.0.1:41002"
    assert env["LECTERN_COURSE_MEDIA_GRPC_TARGET"] == "127.0.0.1:50052"
    assert env["LECTERN_COURSE_ANALYTICS_GRPC_TARGET"] == "127.0.0.1:50053"
    assert env["LECTERN_COURSE_UPLOAD_PUBLIC_URL"] == "http://127.0.0.1:41003/files/"
    assert env["LECTERN_COURSE_REALTIME_PUBLISH_URL"] == "http://127.0.0.1:8083/v1/publish"
    assert env["LECTERN_COURSE_REALTIME_PUBLIC_URL"] == "ws://127.0.0.1:8082/ws"
    assert "LECTERN_DEV_AUTH" not in env
    assert env["PATH"] == "/bin"


def test_every_service_gets_every_peer_address_and_the_plumbing() -> None:
    peers = {
        "course_grpc_target",
        "media_grpc_target",
        "analytics_grpc_target",
        "upload_grpc_target",
        "upload_public_url",
        "realtime_publish_url",
        "realtime_public_url",
    }
    assert set(peer_settings(KNOWN.values(), {})) == peers
    for name, spec in KNOWN.items():
        env = env_of(name, ports={})
        assert {f"{spec.env_prefix}{peer.upper()}" for peer in peers} <= set(env), name
        assert env[f"{spec.env_prefix}KAFKA_BOOTSTRAP"] == URLS.kafka_bootstrap
        assert env[f"{spec.env_prefix}S3_BUCKET"] == "lectern-media"


def test_a_service_without_a_database_gets_no_database_url() -> None:
    spec = KNOWN["upload"]
    env = service_environment(spec, PORTS["upload"], {}, None, stack(log_json=True, bucket="b-1"))
    assert "LECTERN_UPLOAD_DATABASE_URL" not in env
    assert env["LECTERN_UPLOAD_LOG_JSON"] == "true"


def test_only_naming_an_unknown_service_is_refused() -> None:
    with pytest.raises(LaunchError, match="no-such-service"):
        discover_specs(only={"no-such-service"})


def test_each_service_gets_only_the_keys_of_its_purpose() -> None:
    def secrets_of(name: str) -> set[str]:
        prefix = KNOWN[name].env_prefix
        env = env_of(name, ports={})
        return {k.removeprefix(prefix).lower() for k in env if k.removeprefix(prefix).lower() in SECRETS.as_dict()}

    assert secrets_of("gateway") == {
        "internal_token_private_key",
        "internal_token_public_keys",
        "realtime_token_private_key",
    }
    assert secrets_of("media") == {"internal_token_private_key", "internal_token_public_keys"}
    assert secrets_of("course") == {"internal_token_public_keys"}
    assert secrets_of("analytics") == {"internal_token_public_keys"}
    assert secrets_of("upload") == {"internal_token_public_keys", "upload_token_secret", "realtime_publish_token"}
    assert secrets_of("realtime") == {
        "internal_token_public_keys",
        "realtime_token_public_keys",
        "realtime_publish_token",
    }


def test_a_spec_naming_an_unknown_secret_is_refused() -> None:
    spec = ServiceSpec(name="typo", module="lectern_typo", secrets=frozenset({"upload_token_secrte"}))
    with pytest.raises(LaunchError, match="upload_token_secrte"):
        service_environment(spec, ServicePorts(0, 0), {}, None, stack())


def test_two_stacks_never_share_a_key_or_secret_and_none_is_a_dev_default() -> None:
    from lectern_common.settings import DEV_INTERNAL_PRIVATE_KEY, DEV_REALTIME_PRIVATE_KEY

    first, second = StackSecrets.generate().as_dict(), StackSecrets.generate().as_dict()
    assert all(first[name] != second[name] for name in first)
    assert DEV_INTERNAL_PRIVATE_KEY not in first.values()
    assert DEV_REALTIME_PRIVATE_KEY not in first.values()


def test_only_the_gateway_gets_dev_login_and_by_its_own_prefix() -> None:
    env = env_of("gateway", ports={"gateway": ServicePorts(0, 1)})
    assert env["LECTERN_GATEWAY_DEV_AUTH"] == "true"
    assert "LECTERN_DEV_AUTH" not in env
    assert "LECTERN_COURSE_DEV_AUTH" not in course_env()


def test_browser_facing_services_get_the_runs_cors_origins() -> None:
    facing = {name for name in KNOWN if "CORS_ALLOWED_ORIGINS" in "".join(env_of(name, ports={}))}
    assert facing == {"gateway", "upload"}
    assert env_of("upload", ports={})["LECTERN_UPLOAD_CORS_ALLOWED_ORIGINS"].startswith("http://127.0.0.1:5173")


def test_a_setting_default_gives_way_to_the_environment() -> None:
    spec = KNOWN["gateway"]
    base = {"LECTERN_GATEWAY_DEV_TOKEN_BURST": "7"}
    run = StackSettings(urls=URLS, secrets=SECRETS, bucket="b-1", log_json=False, base=base)
    env = service_environment(spec, ServicePorts(0, 1), {}, None, run)
    assert env["LECTERN_GATEWAY_DEV_TOKEN_BURST"] == "7"
    assert env["LECTERN_GATEWAY_DEV_TOKEN_PER_MINUTE"] == "1200"
