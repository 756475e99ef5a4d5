"""Settings shared by every Lectern service.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``LECTERN_COURSE_``),
so one variable name per service and per value: ``LECTERN_COURSE_DATABASE_URL``. The dev stack
launcher sets every field below for every service it starts; a production deployment sets them
from the Helm chart. Nothing here is read at import time: a settings object is built once in a
service's ``__main__`` and passed down (STYLE rule 7).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """The plumbing every service needs; domain settings live in the subclass."""

    model_config = SettingsConfigDict(env_prefix="LECTERN_", extra="ignore", frozen=True)

    service_name: str = "lectern"
    environment: str = "dev"
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

    # Identity between services: the gateway signs, services verify.
    internal_token_secret: SecretStr = SecretStr("dev-internal-secret-change-me-0123456789")
    internal_token_ttl_seconds: int = 300

    # Addresses of the other services (set by the launcher / chart).
    course_grpc_target: str = "127.0.0.1:50051"
    media_grpc_target: str = "127.0.0.1:50052"
    analytics_grpc_target: str = "127.0.0.1:50053"
    upload_grpc_target: str = "127.0.0.1:50054"
    upload_public_url: str = "http://127.0.0.1:8081/files/"
    realtime_publish_url: str = "http://127.0.0.1:8082/v1/publish"
    realtime_public_url: str = "ws://127.0.0.1:8082/ws"
    realtime_publish_token: SecretStr = SecretStr("dev-realtime-publish-token")
    realtime_token_secret: SecretStr = SecretStr("dev-realtime-token-secret-change-me-0123")

    # Telemetry: standard OTEL_* variables are honoured by the SDK; this only switches tracing on.
    otlp_endpoint: str | None = Field(default=None)

    # Where the service's Alembic scripts are; None means beside the source tree
    # (services/<svc>/migrations). Container images copy them to /app/migrations.
    migrations_dir: str | None = None

    # Graceful shutdown: how long in-flight work may take before it is cut.
    shutdown_grace_seconds: float = 10.0
