"""The gateway's settings: ``LECTERN_GATEWAY_*`` plus the shared plumbing of ServiceSettings."""

from __future__ import annotations

from lectern_common.settings import ServiceSettings
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict


class GatewaySettings(ServiceSettings):
    """Everything the gateway reads from its environment, validated once at start-up."""

    model_config = SettingsConfigDict(env_prefix="LECTERN_GATEWAY_", extra="ignore", frozen=True, populate_by_name=True)

    service_name: str = "gateway"
    http_port: int = 8080

    # Identity of users: OIDC JWTs verified against the issuer's JWKS.
    oidc_issuer: str | None = None
    oidc_audience: str = "lectern"
    oidc_jwks_url: str | None = None
    oidc_algorithms: tuple[str, ...] = ("RS256", "ES256")
    oidc_roles_claim: str = "roles"
    jwks_cache_seconds: float = 600.0
    jwks_min_refetch_seconds: float = 30.0
    """Unknown ``kid`` refetches the JWKS (key rotation), at most once per this many seconds."""
    jwks_fetch_timeout_seconds: float = 3.0

    # Dev login (``POST /auth/dev/token``): on under ``make up`` through the launcher's
    # unprefixed ``LECTERN_DEV_AUTH=1``; never on in production.
    dev_auth: bool = Field(default=False, validation_alias=AliasChoices("LECTERN_GATEWAY_DEV_AUTH", "LECTERN_DEV_AUTH"))
    dev_token_ttl_seconds: int = 12 * 3600

    # Calls to the services.
    grpc_timeout_seconds: float = 5.0
    grpc_read_attempts: int = 3

    # Idempotency-Key answers kept in Redis.
    idempotency_ttl_seconds: int = 24 * 3600
    idempotency_lock_seconds: int = 30
    redis_prefix: str = "lectern:gateway:"
    redis_timeout_seconds: float = 2.0

    # Per-user rate limits (token buckets): every action, and mutations on top.
    rate_limit_enabled: bool = True
    rate_limit_per_minute: int = 600
    rate_limit_burst: int = 120
    rate_limit_mutations_per_minute: int = 240
    rate_limit_mutations_burst: int = 60

    # Realtime tokens handed to browsers.
    realtime_token_ttl_seconds: int = 3600
    realtime_token_max_courses: int = 200

    max_body_bytes: int = 1024 * 1024
