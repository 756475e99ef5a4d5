"""Event envelopes: how a domain fact becomes a Kafka record and back.

A record's value is a ``lectern.events.v1.EventEnvelope`` whose ``payload`` is a packed protobuf
message; its key is the aggregate id so one aggregate's events stay ordered in a partition; its
headers carry the trace context and the event id and type.
"""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp
from lectern.events.v1.envelope_pb2 import EventEnvelope
from lectern.events.v1.event_types import COURSE_TOPIC as COURSE_TOPIC
from lectern.events.v1.event_types import ENGAGEMENT_TOPIC as ENGAGEMENT_TOPIC
from lectern.events.v1.event_types import MEDIA_TOPIC as MEDIA_TOPIC
from lectern.events.v1.event_types import UPLOAD_TOPIC as UPLOAD_TOPIC

EVENT_ID_HEADER = "lectern-event-id"
EVENT_TYPE_HEADER = "lectern-event-type"

# Topic names (ARCHITECTURE §3) are defined beside the event types, lectern.events.v1.event_types.
ALL_TOPICS = (COURSE_TOPIC, MEDIA_TOPIC, UPLOAD_TOPIC, ENGAGEMENT_TOPIC)

M = TypeVar("M", bound=Message)


class MalformedEvent(ValueError):
    """A record that is not an envelope we can read: parked, never retried."""


@dataclass(frozen=True)
class Event:
    """A decoded envelope plus the record's headers."""

    id: str
    type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    actor_id: str
    payload: AnyProto
    headers: tuple[tuple[str, bytes], ...] = field(default=())

    def unpack(self, message_type: builtins.type[M]) -> M:
        """The payload as ``message_type``; a mismatch is a malformed event."""
        message = message_type()
        if not self.payload.Unpack(message):
            raise MalformedEvent(f"event {self.id} of type {self.type} does not hold {message_type.__name__}")
        return message


def build_envelope(
    *,
    event_type: str,
    aggregate_id: str,
    aggregate_version: int,
    actor_id: str,
    payload: Message,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> EventEnvelope:
    envelope = EventEnvelope(
        id=event_id or str(uuid.uuid4()),
        type=event_type,
        aggregate_id=aggregate_id,
        aggregate_version=aggregate_version,
        actor_id=actor_id,
    )
    stamp = Timestamp()
    stamp.FromDatetime(occurred_at or datetime.now(UTC))
    envelope.occurred_at.CopyFrom(stamp)
    envelope.payload.Pack(payload)
    return envelope


def decode_event(value: bytes | None, headers: tuple[tuple[str, bytes], ...] = ()) -> Event:
    """Parse a record value; anything unreadable raises :class:`MalformedEvent`."""
    if not value:
        raise MalformedEvent("empty record")
    envelope = EventEnvelope()
    try:
        envelope.ParseFromString(value)
    except DecodeError as exc:
        raise MalformedEvent(f"not an EventEnvelope: {exc}") from exc
    if not envelope.id or not envelope.type:
        raise MalformedEvent("envelope without id or type")
    return Event(
        id=envelope.id,
        type=envelope.type,
        aggregate_id=envelope.aggregate_id,
        aggregate_version=envelope.aggregate_version,
        occurred_at=envelope.occurred_at.ToDatetime(tzinfo=UTC),
        actor_id=envelope.actor_id,
        payload=envelope.payload,
        headers=tuple(headers),
    )
