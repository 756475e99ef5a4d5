"""Media settings: the shared plumbing plus the domain's own knobs (env prefix LECTERN_MEDIA_)."""

from __future__ import annotations

from typing import ClassVar

from lectern_common.events import COURSE_TOPIC, MEDIA_TOPIC, UPLOAD_TOPIC
from lectern_common.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class MediaSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LECTERN_MEDIA_", extra="ignore", frozen=True)

    # Media verifies the gateway's internal tokens and signs its own calls to course.
    production_checked: ClassVar[tuple[str, ...]] = (
        "database_url",
        "kafka_bootstrap",
        "s3_endpoint",
        "s3_secret_key",
        "internal_token_private_key",
        "internal_token_public_keys",
    )

    service_name: str = "media"
    grpc_port: int = 50052
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/lectern_media"

    # Soft-deleted files stay recoverable this long, then the purge job removes them and their bytes.
    retention_days: float = Field(default=30.0, gt=0)
    purge_interval_seconds: float = Field(default=300.0, gt=0)
    purge_batch_size: int = Field(default=100, gt=0, le=1000)

    # Course is asked to resolve link targets; each call has this deadline.
    course_call_timeout_seconds: float = Field(default=5.0, gt=0)

    # Probing uploaded files (probing/): per file, the child process's address space, its time, and
    # how much of the object it may read; probes at once per process; tries before a file whose
    # probe keeps failing for reasons of its own (storage down) is failed; the first retry's delay
    # (doubling each time); how long past the timeout a dead worker's lease lasts.
    probe_memory_mib: int = Field(default=512, ge=128, le=16384)
    probe_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    probe_max_read_mib: int = Field(default=64, ge=1, le=4096)
    probe_block_kib: int = Field(default=1024, ge=64, le=65536)
    probe_concurrency: int = Field(default=1, ge=1, le=32)
    probe_max_attempts: int = Field(default=5, ge=1, le=100)
    probe_retry_seconds: float = Field(default=5.0, gt=0)
    probe_lease_margin_seconds: float = Field(default=30.0, ge=0)
    probe_idle_poll_seconds: float = Field(default=1.0, gt=0)

    # Kafka: the group media consumes upload and course events as, and the topics (overridable so
    # tests can use topics of their own on a shared broker).
    consumer_group: str = "lectern-media"
    media_topic: str = MEDIA_TOPIC
    upload_topic: str = UPLOAD_TOPIC
    course_topic: str = COURSE_TOPIC
