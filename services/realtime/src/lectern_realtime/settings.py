"""Realtime's settings: the plumbing from ServiceSettings plus fan-out, history and socket limits."""

from __future__ import annotations

from typing import ClassVar

from lectern_common.events import COURSE_TOPIC, MEDIA_TOPIC, UPLOAD_TOPIC
from lectern_common.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class RealtimeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LECTERN_REALTIME_", extra="ignore", frozen=True)

    production_checked: ClassVar[tuple[str, ...]] = (
        "redis_url",
        "kafka_bootstrap",
        "realtime_token_public_keys",
        "realtime_publish_token",
    )

    service_name: str = "realtime"
    # The public WebSocket port (/ws, probes) and the internal one for POST /v1/publish (probes
    # too), so an Ingress or NetworkPolicy exposes one and never the other.
    http_port: int = 8082
    publish_port: int = 8083

    # Redis: every key and the fan-out pub/sub channel start with this prefix, so several
    # deployments (or tests) can share one Redis without seeing each other.
    redis_prefix: str = "lectern:rt:"
    redis_timeout_seconds: float = 2.0
    redis_max_connections: int = 64
    redis_pool_wait_seconds: float = 10.0  # a connect burst queues for a pooled connection this long

    # Per-channel history (a Redis stream): bounded in length and in age.
    history_size: int = 300
    history_ttl_seconds: int = 300
    # The seq counter outlives the history so a tab that reconnects later learns its gap is too old.
    seq_ttl_seconds: int = 30 * 24 * 3600
    # How long an event id is remembered so a redelivered Kafka event publishes nothing twice.
    dedup_ttl_seconds: int = 7 * 24 * 3600

    # Sockets.
    send_queue_size: int = 256  # messages waiting for one socket; full = slow consumer, cut off
    max_subscriptions: int = 200  # channels one socket may hold
    max_incoming_bytes: int = 16 * 1024
    max_message_bytes: int = 4096  # a published message, serialized
    ws_ping_interval_seconds: float = 20.0
    ws_ping_timeout_seconds: float = 20.0
    close_on_token_expiry: bool = True
    # WebSocket connects per user (across replicas, in Redis): a reconnect loop or a script
    # opening sockets is refused with close code 4029 and the seconds to wait.
    ws_connects_per_minute: int = 60
    ws_connects_burst: int = 20

    # Kafka: the durable facts realtime turns into upload-complete / upload-failed / invalidate.
    consume_events: bool = True
    consumer_group: str = "realtime"
    upload_topic: str = UPLOAD_TOPIC
    media_topic: str = MEDIA_TOPIC
    course_topic: str = COURSE_TOPIC
