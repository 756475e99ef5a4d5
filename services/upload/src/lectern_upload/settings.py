"""Upload service settings (``LECTERN_UPLOAD_*``)."""

from __future__ import annotations

from typing import ClassVar

from lectern_common.events import MEDIA_TOPIC
from lectern_common.settings import OriginList, ServiceSettings, cors_origins
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

MIB = 1024 * 1024
# S3 refuses parts under 5 MiB (except the last).
MIN_PART_SIZE = 5 * MIB


class UploadSettings(ServiceSettings):
    """Plumbing from ServiceSettings plus the upload domain's limits and tuning."""

    model_config = SettingsConfigDict(env_prefix="LECTERN_UPLOAD_", extra="ignore", frozen=True)

    production_checked: ClassVar[tuple[str, ...]] = (
        "database_url",
        "kafka_bootstrap",
        "s3_endpoint",
        "s3_secret_key",
        "internal_token_public_keys",
        "upload_token_secret",
        "realtime_publish_token",
    )

    service_name: str = "upload"
    grpc_port: int = 50054
    http_port: int = 8081
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/lectern_upload"
    database_pool_size: int = 20

    # Where clients send bytes: CreateUpload answers <upload_public_url><upload id>.
    upload_public_url: str = "http://127.0.0.1:8081/files/"
    storage_prefix: str = "uploads/"

    # Storage tuning: bytes are buffered up to one part, then sent with UploadPart; up to
    # part_upload_concurrency parts of one upload are in flight while the next one is received.
    # 8 MiB x 2 in flight. 5 MiB (S3's least) x 2 holds 15 MiB of buffers an upload instead of 24
    # (bench/upload peak 127.4 -> 118.4 MiB) but cost 15-25% more service CPU per GiB in runs side
    # by side (2.76 against 2.41 s single, 3.40 against 2.69 with 8 uploads at once: a commit and a
    # request more per 5 MiB), and throughput on 2 cores is CPU-bound, so it is left an option.
    # 20 GiB / 8 MiB = 2560 parts, under S3's 10000.
    part_size_bytes: int = 8 * MIB
    part_upload_concurrency: int = 2
    # Every part buffer of the process comes from one pool of this many bytes (at least two
    # parts), so memory for bytes in transit is bounded however many uploads run at once: 96 MiB
    # is 12 parts of 8 MiB, four uploads at full speed (the chart's 384 MiB limit holds ~95 MiB
    # idle plus this). When it is spent, PATCH bodies wait (unread, so TCP slows their clients)
    # up to limit_wait_seconds, then end with a retryable 503 upload.busy keeping what
    # they sent.
    part_buffer_budget_bytes: int = 96 * MIB
    # How long a PATCH waits, unread, at either of the process's limits (this budget, or
    # max_concurrent_writes) before it answers 503 upload.busy.
    limit_wait_seconds: float = 30.0
    # PATCHes writing at once in this process. Each holds a pooled database connection for its
    # upload's lock while it writes, so this stays under the pool (database_pool_size plus as
    # many overflow): past it, writers waiting for a buffer would hold every connection and the
    # part commits the others need would starve. Beyond it a PATCH waits, unread, up to
    # limit_wait_seconds, then answers 503 upload.busy.
    max_concurrent_writes: int = 24
    # A PATCH whose client sends nothing for this long ends as if the client went away (what it
    # sent is kept), so a stalled client does not hold a part buffer and the upload's lock.
    body_idle_timeout_seconds: float = 60.0
    # PATCHes of one user writing at once in this process: each holds up to
    # part_upload_concurrency + 1 part buffers and a write slot, so this bounds what one user (a
    # dozen trickling PATCHes) can take from the others. Beyond it a PATCH answers 503 upload.busy.
    max_concurrent_writes_per_user: int = Field(default=4, ge=1)
    # A PATCH that sends less than this many bytes a second, over each window, ends like a
    # vanished client (what it sent is kept): a trickle of a byte now and then before the idle
    # timeout would otherwise hold a buffer and a slot for hours. 0 switches the floor off.
    min_patch_bytes_per_second: int = Field(default=16 * 1024, ge=0)
    min_rate_window_seconds: float = Field(default=30.0, gt=0)
    # tus creations (POST /files/) per user, per process: a sustained rate and a burst.
    creations_per_minute: int = Field(default=60, ge=1)
    creations_burst: int = Field(default=20, ge=1)
    # The chunk size CreateUpload advises: a multiple of the part size, so PATCHes end on part
    # boundaries and no tail object has to be written and read back between them.
    advised_chunk_parts: int = 4

    # SigV4 payload signing of S3 request bodies. False (the default) sends UNSIGNED-PAYLOAD: the
    # request itself (method, key, part number, headers) stays signed, but no part is hashed a
    # second time. That second SHA-256 pass cost ~0.7 CPU s per GiB, about a fifth of the
    # service's CPU (bench/upload); it buys nothing over TLS, which production S3 endpoints use,
    # and the file's own SHA-256 is computed as its bytes arrive. True signs every body; None is
    # the same as False (lectern_common.s3_http signs only bodies under 64 KiB, its XML ones).
    s3_payload_signing: bool | None = False

    # Limits.
    max_upload_bytes: int = 20 * 1024 * MIB
    allowed_mime_types: tuple[str, ...] = ("video/*", "audio/*", "image/*", "application/pdf")
    max_concurrent_uploads_per_user: int = 10
    user_quota_bytes: int = 200 * 1024 * MIB
    upload_ttl_seconds: int = 24 * 3600

    # Tokens: HS256 key for upload-scoped and upload-creation tokens. Upload is their only signer
    # and verifier (CreateUpload over gRPC mints them), so a symmetric key held by one service.
    upload_token_secret: SecretStr = SecretStr("dev-upload-token-secret-change-me-0123456789")
    creation_token_ttl_seconds: int = 3600

    # Progress to realtime: at most one message per interval per upload, each with a short timeout.
    progress_interval_seconds: float = 0.1
    progress_timeout_seconds: float = 0.5
    # The publisher's circuit breaker: after this many failures in a row, progress is dropped
    # without a network call for this long, then one trial call probes realtime again.
    progress_breaker_failures: int = 5
    progress_breaker_open_seconds: float = 5.0

    # Kafka: the group this service reads media's events as (media.file.* tell an upload which file
    # it became), and the topic (overridable so tests can use a topic of their own).
    consumer_group: str = "lectern-upload"
    media_topic: str = MEDIA_TOPIC

    # Janitor: how often expired uploads are aborted.
    janitor_interval_seconds: float = 60.0

    # Browsers: the exact origins allowed to send tus requests cross-origin. Unset: the reference
    # editor's dev origins in dev, none elsewhere; any other Origin gets no CORS headers.
    cors_allowed_origins: OriginList | None = None

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        return cors_origins(self.cors_allowed_origins, is_dev=self.is_dev)

    @field_validator("part_size_bytes")
    @classmethod
    def _part_size_is_s3_valid(cls, value: int) -> int:
        if value < MIN_PART_SIZE or value % 64:
            raise ValueError("part_size_bytes must be at least 5 MiB and a multiple of 64")
        return value

    @model_validator(mode="after")
    def _limits_fit(self) -> UploadSettings:
        if self.part_buffer_budget_bytes < 2 * self.part_size_bytes:
            raise ValueError("part_buffer_budget_bytes must hold at least two parts (one filling, one in flight)")
        if not 1 <= self.max_concurrent_writes < 2 * self.database_pool_size:
            raise ValueError("max_concurrent_writes must be at least 1 and leave database connections for commits")
        return self

    @field_validator("upload_public_url")
    @classmethod
    def _ends_with_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"
