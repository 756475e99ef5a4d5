"""What the launcher hands each service: every ServiceSettings field it owns, under its prefix."""

from __future__ import annotations

import pytest
from lectern_common.devstack.infra import InfraUrls
from lectern_common.devstack.launcher import (
    LaunchError,
    ServicePorts,
    StackSecrets,
    discover_specs,
    service_environment,
)
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
COURSE = ServiceSpec(name="course", module="lectern_course", grpc_port=50051, database="lectern_course")
UPLOAD = ServiceSpec(name="upload", module="lectern_upload", grpc_port=50054, http_port=8081)
PORTS = {"course": ServicePorts(grpc=41001, http=0), "upload": ServicePorts(grpc=41002, http=41003)}


class CourseSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LECTERN_COURSE_", extra="ignore", frozen=True)


SECRETS = StackSecrets.generate()


def course_env() -> dict[str, str]:
    return service_environment(
        COURSE,
        PORTS,
        URLS,
        SECRETS,
        URLS.database_url("lectern_course"),
        "lectern-media",
        False,
        base={"PATH": "/bin"},
    )


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


def test_a_service_without_a_database_gets_no_database_url() -> None:
    env = service_environment(UPLOAD, PORTS, URLS, StackSecrets.generate(), None, "b-1", True, base={})
    assert "LECTERN_UPLOAD_DATABASE_URL" not in env
    assert env["LECTERN_UPLOAD_LOG_JSON"] == "true"


def test_only_naming_an_unknown_service_is_refused() -> None:
    with pytest.raises(LaunchError, match="no-such-service"):
        discover_specs(only={"no-such-service"})


def test_each_service_gets_only_the_keys_of_its_purpose() -> None:
    def secrets_of(name: str) -> set[str]:
        spec = ServiceSpec(name=name, module=f"lectern_{name}")
        ports = {name: ServicePorts(grpc=0, http=0)}
        env = service_environment(spec, ports, URLS, SECRETS, None, "b", False, base={})
        prefix = f"LECTERN_{name.upper()}_"
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


def test_two_stacks_never_share_a_key_or_secret_and_none_is_a_dev_default() -> None:
    from lectern_common.settings import DEV_INTERNAL_PRIVATE_KEY, DEV_REALTIME_PRIVATE_KEY

    first, second = StackSecrets.generate().as_dict(), StackSecrets.generate().as_dict()
    assert all(first[name] != second[name] for name in first)
    assert DEV_INTERNAL_PRIVATE_KEY not in first.values()
    assert DEV_REALTIME_PRIVATE_KEY not in first.values()


def test_only_the_gateway_gets_dev_login_and_by_its_own_prefix() -> None:
    gateway = ServiceSpec(name="gateway", module="lectern_gateway", http_port=8080)
    env = service_environment(gateway, {"gateway": ServicePorts(0, 1)}, URLS, SECRETS, None, "b", False, base={})
    assert env["LECTERN_GATEWAY_DEV_AUTH"] == "true"
    assert "LECTERN_DEV_AUTH" not in env
    assert "LECTERN_COURSE_DEV_AUTH" not in course_env()
