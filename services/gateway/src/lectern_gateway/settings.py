"""The gateway's settings: ``LECTERN_GATEWAY_*`` plus the shared plumbing of ServiceSettings."""

from __future__ import annotations

from typing import ClassVar

from lectern_common.settings import OriginList, ServiceSettings, cors_origins
from pydantic_settings import SettingsConfigDict


class GatewaySettings(ServiceSettings):
    """Everything the gateway reads from its environment, validated once at start-up."""

    model_config = SettingsConfigDict(env_prefix="LECTERN_GATEWAY_", extra="ignore", frozen=True, populate_by_name=True)

    production_checked: ClassVar[tuple[str, ...]] = (
        "redis_url",
        "internal_token_private_key",
        "realtime_token_private_key",
    )

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

    # Dev login (``POST /auth/dev/token``, tokens for any user id): None means on in dev and off
    # elsewhere; only ``LECTERN_GATEWAY_DEV_AUTH`` sets it, and true outside dev is refused.
    dev_auth: bool | None = None
    dev_token_ttl_seconds: int = 12 * 3600
    # The dev token route is open to anyone who reaches it: a per-client-address bucket.
    dev_token_per_minute: int = 60
    dev_token_burst: int = 20

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
    # Per client address, checked before the token is verified (unauthenticated floods).
    rate_limit_per_client_per_minute: int = 1200
    rate_limit_per_client_burst: int = 300
    # Proxies in front of the gateway that append to X-Forwarded-For (an Ingress: 1). 0: the
    # client address is the connection's peer. Only hops that are trusted may be counted, or a
    # client could name any address it likes.
    forwarded_for_hops: int = 0

    # Realtime tokens handed to browsers.
    realtime_token_ttl_seconds: int = 3600
    realtime_token_max_courses: int = 200

    max_body_bytes: int = 1024 * 1024

    # Browsers: the exact origins allowed to call actions cross-origin (CORS preflight). Unset:
    # the reference editor's dev origins in dev, none elsewhere.
    cors_allowed_origins: OriginList | None = None

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        return cors_origins(self.cors_allowed_origins, is_dev=self.is_dev)

    @property
    def dev_login(self) -> bool:
        """Whether ``POST /auth/dev/token`` exists (never outside dev: the settings refuse it)."""
        return self.is_dev if self.dev_auth is None else self.dev_auth

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.dev_auth:
            problems.append(f"{self.env_name('dev_auth')}: dev login is refused outside dev")
        for name in ("oidc_issuer", "oidc_audience", "oidc_jwks_url"):
            if getattr(self, name) is None or name not in self.model_fields_set:
                problems.append(f"{self.env_name(name)}: not set (users sign in through OIDC outside dev)")
        return problems
