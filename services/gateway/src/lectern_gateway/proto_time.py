"""Protobuf timestamps <-> aware UTC datetimes (RFC 3339 on the wire)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp


def to_datetime(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def optional_datetime(message: Any, field: str) -> datetime | None:
    """The field's time when it is set (``optional`` or a message field), else None."""
    if not message.HasField(field):
        return None
    return to_datetime(getattr(message, field))


def to_timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp
