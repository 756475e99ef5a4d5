"""ServiceSettings outside dev: every dev default and short secret a service uses is refused,
each named by its environment variable; in dev every default works."""

from __future__ import annotations

from typing import ClassVar

import pytest
from lectern_common.identity import Identity, InternalTokenIssuer, InternalTokenVerifier
from lectern_common.settings import (
    DEV_INTERNAL_PRIVATE_KEY,
    DEV_INTERNAL_PUBLIC_KEY,
    ServiceSettings,
    load_settings,
)
from lectern_common.token_keys import generate_key_pair
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

STRONG = "s" * 32
PRIVATE, PUBLIC = generate_key_pair()


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LECTERN_EXAMPLE_", extra="ignore", frozen=True)

    production_checked: ClassVar[tuple[str, ...]] = (
        "database_url",
        "redis_url",
        "s3_secret_key",
        "internal_token_private_key",
        "internal_token_public_keys",
        "realtime_publish_token",
    )


def production(**overrides: str) -> dict[str, str]:
    values = {
        "environment": "production",
        "database_url": f"postgresql+asyncpg://example:{STRONG}@db.internal:5432/example",
        "redis_url": "redis://redis.internal:6379/0",
        "s3_access_key": "AKIAEXAMPLE",
        "s3_secret_key": STRONG,
        "internal_token_private_key": PRIVATE,
        "internal_token_public_keys": PUBLIC,
        "realtime_publish_token": STRONG,
    }
    values.update(overrides)
    return values


def refusal(**overrides: str) -> str:
    with pytest.raises(ValidationError) as refused:
        ExampleSettings(**production(**overrides))  # type: ignore[arg-type]
    return str(refused.value)


def test_production_with_every_setting_given_starts() -> None:
    settings = ExampleSettings(**production())  # type: ignore[arg-type]
    assert settings.production_problems() == []


def test_production_with_nothing_set_names_every_setting_it_uses() -> None:
    with pytest.raises(ValidationError) as refused:
        ExampleSettings(environment="production")
    message = str(refused.value)
    for name in ExampleSettings.production_checked:
        assert f"LECTERN_EXAMPLE_{name.upper()}" in message
    assert "LECTERN_EXAMPLE_KAFKA_BOOTSTRAP" not in message  # not used by this service


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"s3_secret_key": "x" * 31}, "LECTERN_EXAMPLE_S3_SECRET_KEY: shorter than 32 bytes"),
        ({"realtime_publish_token": "short"}, "LECTERN_EXAMPLE_REALTIME_PUBLISH_TOKEN: shorter than 32 bytes"),
        ({"database_url": "postgresql+asyncpg://u@db:5432/x"}, "LECTERN_EXAMPLE_DATABASE_URL: has no password"),
        (
            {"database_url": "postgresql+asyncpg://u:short@db:5432/x"},
            "LECTERN_EXAMPLE_DATABASE_URL: its password is shorter than 32 bytes",
        ),
        ({"internal_token_private_key": DEV_INTERNAL_PRIVATE_KEY}, "INTERNAL_TOKEN_PRIVATE_KEY: is (or holds) the dev"),
        (
            {"internal_token_public_keys": PUBLIC + DEV_INTERNAL_PUBLIC_KEY},
            "LECTERN_EXAMPLE_INTERNAL_TOKEN_PUBLIC_KEYS: is (or holds) the dev key",
        ),
    ],
)
def test_each_unsafe_value_is_named(overrides: dict[str, str], named: str) -> None:
    assert named in refusal(**overrides)


def test_a_malformed_key_is_refused_in_any_environment() -> None:
    with pytest.raises(ValidationError, match="LECTERN_EXAMPLE_INTERNAL_TOKEN_PUBLIC_KEYS"):
        ExampleSettings(internal_token_public_keys="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")


def test_dev_defaults_sign_and_verify_with_no_variable_set() -> None:
    settings = ExampleSettings()
    token = InternalTokenIssuer(settings.internal_signing_key).issue(Identity("u1"))
    assert InternalTokenVerifier(settings.internal_verifying_keys).verify(token).user_id == "u1"


def test_load_settings_exits_2_with_one_line_naming_the_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LECTERN_EXAMPLE_ENVIRONMENT", "staging")
    with pytest.raises(SystemExit) as exited:
        load_settings(ExampleSettings, program="lectern_example")
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("lectern_example: invalid settings: refusing to start with environment=staging")
    assert "LECTERN_EXAMPLE_S3_SECRET_KEY" in err
