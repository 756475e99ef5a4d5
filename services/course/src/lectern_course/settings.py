"""Course service settings: every value from ``LECTERN_COURSE_*`` variables, validated at start."""

from __future__ import annotations

from typing import ClassVar

from lectern_common.events import COURSE_TOPIC, MEDIA_TOPIC
from lectern_common.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class CourseSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LECTERN_COURSE_", extra="ignore", frozen=True)

    production_checked: ClassVar[tuple[str, ...]] = ("database_url", "kafka_bootstrap", "internal_token_public_keys")

    service_name: str = "course"
    grpc_port: int = 50051
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/lectern_course"
    # Connections kept open (no overflow): as many as the old 10 + 10 overflow allowed at peak.
    database_pool_size: int = 20

    # Topics: what course writes, and the media topic it folds into its media read model.
    course_topic: str = COURSE_TOPIC
    media_topic: str = MEDIA_TOPIC
    consumer_group: str = "lectern-course"

    # Limits of one save and of the titles in it (API.md: titles 1..200 characters).
    max_operations_per_save: int = 500
    max_title_length: int = 200
    max_description_length: int = 5000
    list_default_limit: int = 20
    list_max_limit: int = 100

    # Encoded editor trees kept per process (courses.edit_cache); a 50x20 tree is ~75 KB.
    edit_tree_cache_bytes: int = 64 * 1024 * 1024
