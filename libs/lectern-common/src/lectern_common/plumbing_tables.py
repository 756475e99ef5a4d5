"""Tables every service database has, whatever its domain: the outbox, the consumer's memory of
processed events, parked (poison) events, and idempotency keys.

They live in their own MetaData so they never collide with a service's models; each service's
first migration creates them with :func:`lectern_common.migrations.create_plumbing_tables`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Identity, LargeBinary, String, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB

from lectern_common.db import new_metadata

PLUMBING_METADATA = new_metadata()

outbox_events = Table(
    "outbox_events",
    PLUMBING_METADATA,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("headers", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

processed_events = Table(
    "processed_events",
    PLUMBING_METADATA,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

parked_events = Table(
    "parked_events",
    PLUMBING_METADATA,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("consumer", String(100), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("partition", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("event_id", String(64)),
    Column("event_type", String(200)),
    Column("value", LargeBinary),
    Column("error", Text, nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

idempotency_keys = Table(
    "idempotency_keys",
    PLUMBING_METADATA,
    Column("scope", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("response", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
