"""Settings shared by every Lectern service.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``LECTERN_COURSE_``),
so one variable name per service and per value: ``LECTERN_COURSE_DATABASE_URL``. The dev stack
launcher sets every field below for every service it starts; a production deployment sets them
from the Helm chart. Nothing here is read at import time: a settings object is built once in a
service's ``__main__`` (:func:`load_settings`) and passed down (STYLE rule 7).

Every default works in dev (``environment=dev``, the default) with no variable set. Outside dev a
service refuses to start while any setting it uses (:attr:`ServiceSettings.production_checked`)
still has its dev default, or while a secret is shorter than :data:`MIN_SECRET_BYTES`: the error
names each such setting by its environment variable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cached_property
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from lectern_common.token_keys import InvalidKeyError, SigningKey, VerifyingKeys, dev_key_pair

DEV = "dev"
MIN_SECRET_BYTES = 32

# The dev pairs used when no key is configured (public seeds: refused outside dev).
DEV_INTERNAL_PRIVATE_KEY, DEV_INTERNAL_PUBLIC_KEY = dev_key_pair("internal")
DEV_REALTIME_PRIVATE_KEY, DEV_REALTIME_PUBLIC_KEY = dev_key_pair("realtime")

# Key settings: the dev key each falls back to, and the property that parses it.
_KEY_SETTINGS = {
    "internal_token_private_key": (DEV_INTERNAL_PRIVATE_KEY, "internal_signing_key"),
    "internal_token_public_keys": (DEV_INTERNAL_PUBLIC_KEY, "internal_verifying_keys"),
    "realtime_token_private_key": (DEV_REALTIME_PRIVATE_KEY, "realtime_signing_key"),
    "realtime_token_public_keys": (DEV_REALTIME_PUBLIC_KEY, "realtime_verifying_keys"),
}


# The reference editor's dev origins (Vite's dev and preview servers): what browsers may call the
# gateway and upload from in dev when CORS_ALLOWED_ORIGINS is not set. Outside dev: none.
EDITOR_DEV_ORIGINS: tuple[str, ...] = (
    "http://127.0.0.1:5173",
    "http://localhost:5173",
    "http://127.0.0.1:4173",
    "http://localhost:4173",
)


def _origins(value: Any) -> Any:
    """``CORS_ALLOWED_ORIGINS``: a comma-separated list (or a JSON list) of exact origins."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            value = json.loads(text)
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    origins = tuple(value)
    for origin in origins:
        parsed = urlsplit(origin)
        if (
            parsed.scheme not in ("http", "https")
            or not parsed.netloc
            or parsed.path
            or parsed.query
            or parsed.fragment
        ):
            raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path; '*' is not allowed)")
    return origins


OriginList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_origins)]


def cors_origins(configured: tuple[str, ...] | None, *, is_dev: bool) -> tuple[str, ...]:
    """The origins browsers may call from: as configured, else the editor's in dev, none elsewhere."""
    if configured is not None:
        return configured
    return EDITOR_DEV_ORIGINS if is_dev else ()


class ServiceSettings(BaseSettings):
    """The plumbing every service needs; domain settings live in the subclass."""

    model_config = SettingsConfigDict(env_prefix="LECTERN_", extra="ignore", frozen=True)

    production_checked: ClassVar[tuple[str, ...]] = ()
    """The settings this service uses whose dev defaults it refuses outside dev."""

    service_name: str = "lectern"
    environment: str = DEV
    log_level: str = "INFO"
    log_json: bool = True

    # Ports this service listens on (0 = not used by this service).
    grpc_port: int = 0
    http_port: int = 0
    bind_host: str = "127.0.0.1"

    # Infrastructure.
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/lectern"
    database_pool_size: int = 10
    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr = SecretStr("lectern")
    s3_secret_key: SecretStr = SecretStr("lectern-secret")
    s3_bucket: str = "lectern-media"

    # Identity between services (EdDSA, lectern_common.token_keys): the gateway (and media, for
    # its calls to course) signs with the private key, every gRPC service verifies with the
    # public keys. None means the fixed dev pair.
    internal_token_private_key: SecretStr | None = None
    internal_token_public_keys: str | None = None
    internal_token_ttl_seconds: int = 300

    # Addresses of the other services (set by the launcher / chart).
    course_grpc_target: str = "127.0.0.1:50051"
    media_grpc_target: str = "127.0.0.1:50052"
    analytics_grpc_target: str = "127.0.0.1:50053"
    upload_grpc_target: str = "127.0.0.1:50054"
    upload_public_url: str = "http://127.0.0.1:8081/files/"
    realtime_publish_url: str = "http://127.0.0.1:8083/v1/publish"
    realtime_public_url: str = "ws://127.0.0.1:8082/ws"
    # The bearer credential of realtime's internal POST /v1/publish (realtime and the publishers).
    realtime_publish_token: SecretStr = SecretStr("dev-realtime-publish-token-change-me-0123")
    # WebSocket tokens: the gateway signs, realtime verifies (None: the dev pair).
    realtime_token_private_key: SecretStr | None = None
    realtime_token_public_keys: str | None = None

    # Telemetry: standard OTEL_* variables are honoured by the SDK; this only switches tracing on.
    otlp_endpoint: str | None = Field(default=None)

    # Where the service's Alembic scripts are; None means beside the source tree
    # (services/<svc>/migrations). Container images copy them to /app/migrations.
    migrations_dir: str | None = None

    # Graceful shutdown: how long in-flight work may take before it is cut.
    shutdown_grace_seconds: float = 10.0

    @property
    def is_dev(self) -> bool:
        return self.environment == DEV

    def env_name(self, field: str) -> str:
        """The environment variable that sets ``field`` (what an error message should name)."""
        return f"{self.model_config.get('env_prefix', '')}{field}".upper()

    # --- keys ------------------------------------------------------------------------------

    @cached_property
    def internal_signing_key(self) -> SigningKey:
        return SigningKey.from_pem(_secret_or(self.internal_token_private_key, DEV_INTERNAL_PRIVATE_KEY))

    @cached_property
    def internal_verifying_keys(self) -> VerifyingKeys:
        return VerifyingKeys.from_pem(self.internal_token_public_keys or DEV_INTERNAL_PUBLIC_KEY)

    @cached_property
    def realtime_signing_key(self) -> SigningKey:
        return SigningKey.from_pem(_secret_or(self.realtime_token_private_key, DEV_REALTIME_PRIVATE_KEY))

    @cached_property
    def realtime_verifying_keys(self) -> VerifyingKeys:
        return VerifyingKeys.from_pem(self.realtime_token_public_keys or DEV_REALTIME_PUBLIC_KEY)

    @model_validator(mode="after")
    def _keys_parse(self) -> ServiceSettings:
        """A key that is set must be an Ed25519 PEM, in any environment: fail at start, not at
        the first token."""
        for name, (_, parsed) in _KEY_SETTINGS.items():
            if getattr(self, name) is None:
                continue
            try:
                getattr(self, parsed)
            except InvalidKeyError as exc:
                raise ValueError(f"{self.env_name(name)}: {exc}") from None
        return self

    @model_validator(mode="after")
    def _safe_outside_dev(self) -> ServiceSettings:
        if self.is_dev:
            return self
        problems = self.production_problems()
        if problems:
            raise ValueError(f"refusing to start with environment={self.environment}: " + "; ".join(problems))
        return self

    def production_problems(self) -> list[str]:
        """Each setting this service uses that is unsafe outside dev, as ``VARIABLE: why``.

        Subclasses extend it with their own rules (the gateway's OIDC settings, for one).
        """
        problems: list[str] = []
        defaults = type(self).model_fields
        for name in self.production_checked:
            value = getattr(self, name)
            label = self.env_name(name)
            if name in _KEY_SETTINGS:
                dev_key, parsed = _KEY_SETTINGS[name]
                if value is None:
                    problems.append(f"{label}: not set (the dev key is refused)")
                elif _key_ids(getattr(self, parsed)) & _key_ids(_parse_key(name, dev_key)):
                    problems.append(f"{label}: is (or holds) the dev key")
                continue
            default = defaults[name].default
            if name == "database_url":
                problems.extend(_database_url_problems(label, value, default))
                continue
            if value == default:
                problems.append(f"{label}: is the dev default")
            elif isinstance(value, SecretStr):
                if len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
                    problems.append(f"{label}: shorter than {MIN_SECRET_BYTES} bytes")
        return problems


def _parse_key(name: str, pem: str) -> SigningKey | VerifyingKeys:
    return SigningKey.from_pem(pem) if name.endswith("_private_key") else VerifyingKeys.from_pem(pem)


def _key_ids(key: SigningKey | VerifyingKeys) -> set[str]:
    return {key.kid} if isinstance(key, SigningKey) else set(key.by_kid)


def _secret_or(value: SecretStr | None, fallback: str) -> str:
    return value.get_secret_value() if value is not None else fallback


def _database_url_problems(label: str, value: str, default: str) -> list[str]:
    if value == default:
        return [f"{label}: is the dev default"]
    password = urlsplit(value).password
    if not password:
        return [f"{label}: has no password"]
    if len(password.encode()) < MIN_SECRET_BYTES:
        return [f"{label}: its password is shorter than {MIN_SECRET_BYTES} bytes"]
    return []


S = TypeVar("S", bound=ServiceSettings)


def load_settings(factory: Callable[[], S], *, program: str) -> S:
    """Build the settings from the environment, or exit with status 2 naming every bad setting.

    A refusal (a dev default outside dev, a malformed key) is a configuration error, not a crash:
    one line on stderr that a deployment's logs show, no traceback.
    """
    try:
        return factory()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{where}: {message}" if where else message)
        print(f"{program}: invalid settings: " + " | ".join(lines), file=sys.stderr, flush=True)
        raise SystemExit(2) from None
