"""The transactional outbox: events commit with the change they describe, then a relay
publishes them to Kafka.

- :class:`OutboxWriter` inserts the event rows inside the caller's transaction, with the NOTIFY
  that fires only if that transaction commits in the same statement. No dual writes.
- :class:`OutboxRelay` (shaped after centrifugo's): one relay at a time per database (advisory
  lock), reads a batch in id order, publishes it, deletes it, commits; wakes on LISTEN/NOTIFY with
  a poll as a safety net. When the broker is down nothing is deleted: the batch is retried with
  backoff until it goes through. Delivery is at-least-once; consumers deduplicate by event id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.message import Message
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from lectern_common.events import EVENT_ID_HEADER, EVENT_TYPE_HEADER, build_envelope
from lectern_common.plumbing_tables import outbox_events
from lectern_common.runtime import sleep_or_stop, wait_any
from lectern_common.settings import ServiceSettings
from lectern_common.telemetry import inject_headers

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "lectern_outbox"

_NOTIFIED = "lectern_outbox_notified"


@dataclass(frozen=True)
class PendingEvent:
    """One event for :meth:`OutboxWriter.add_many`."""

    topic: str
    event_type: str
    aggregate_id: str
    aggregate_version: int
    actor_id: str
    payload: Message


# Every event of one call in one statement, in the given order (ORDER BY the position, so the ids
# the identity column hands out, which the relay publishes by, follow it). One array per column:
# the text never changes, so it is prepared once per connection and never built per call.
_INSERT_ROWS = """
INSERT INTO outbox_events (event_id, topic, key, event_type, value, headers)
SELECT t.event_id, t.topic, t.key, t.event_type, t.value, CAST(t.headers AS jsonb)
FROM unnest(
    CAST(:event_ids AS varchar[]), CAST(:topics AS varchar[]), CAST(:keys AS varchar[]),
    CAST(:event_types AS varchar[]), CAST(:values AS bytea[]), CAST(:headers AS text[])
) WITH ORDINALITY AS t(event_id, topic, key, event_type, value, headers, position)
ORDER BY t.position
"""

_INSERT = text(_INSERT_ROWS)

# The same insert with the relay's wake-up in the same round trip: a data-modifying CTE runs to
# completion whether or not it is read, and the NOTIFY it sits beside is queued in the transaction,
# so it is delivered at commit and dropped by a rollback, as a separate NOTIFY statement was.
_INSERT_AND_NOTIFY = text(f"WITH inserted AS ({_INSERT_ROWS}) SELECT pg_notify('{NOTIFY_CHANNEL}', '')")


class OutboxWriter:
    """Adds events to the outbox inside the caller's transaction."""

    async def add(
        self,
        session: AsyncSession,
        *,
        topic: str,
        event_type: str,
        aggregate_id: str,
        aggregate_version: int,
        actor_id: str,
        payload: Message,
    ) -> str:
        """Record one event; it is published only if the surrounding transaction commits."""
        event = PendingEvent(topic, event_type, aggregate_id, aggregate_version, actor_id, payload)
        (event_id,) = await self.add_many(session, [event])
        return event_id

    async def add_many(self, session: AsyncSession, events: Sequence[PendingEvent]) -> list[str]:
        """Record several events with one INSERT (a save of many operations emits many events)."""
        if not events:
            return []
        rows = [self._row(event) for event in events]
        columns = {name: [row[i] for row in rows] for i, name in enumerate(_ROW_COLUMNS)}
        # One NOTIFY per transaction is enough to wake the relay (PostgreSQL folds repeats at
        # commit anyway); it rides on the transaction's first insert. Before the first statement
        # the session has no transaction yet, and that call notifies.
        transaction = session.get_transaction()
        notified = transaction is not None and session.info.get(_NOTIFIED) is transaction
        await session.execute(_INSERT if notified else _INSERT_AND_NOTIFY, columns)
        session.info[_NOTIFIED] = session.get_transaction()
        return [row[0] for row in rows]

    @staticmethod
    def _row(event: PendingEvent) -> tuple[str, str, str, str, bytes, str]:
        envelope = build_envelope(
            event_type=event.event_type,
            aggregate_id=event.aggregate_id,
            aggregate_version=event.aggregate_version,
            actor_id=event.actor_id,
            payload=event.payload,
        )
        headers = [[k, v.decode()] for k, v in inject_headers()]
        headers += [[EVENT_ID_HEADER, envelope.id], [EVENT_TYPE_HEADER, event.event_type]]
        return (
            envelope.id,
            event.topic,
            event.aggregate_id,
            event.event_type,
            envelope.SerializeToString(),
            json.dumps(headers),
        )


_ROW_COLUMNS = ("event_ids", "topics", "keys", "event_types", "values", "headers")


class EventProducer(Protocol):
    """What the relay needs from a broker client (aiokafka's producer, or a test double)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send_batch(self, records: Sequence[tuple[str, str, bytes, list[tuple[str, bytes]]]]) -> None:
        """Publish (topic, key, value, headers) records in order; raise if any is not acknowledged."""
        ...


class KafkaEventProducer:
    """aiokafka producer that can be (re)started after a broker outage."""

    def __init__(self, bootstrap_servers: str, *, client_id: str, request_timeout_ms: int = 10_000) -> None:
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._timeout_ms = request_timeout_ms
        self._producer: Any = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            request_timeout_ms=self._timeout_ms,
            linger_ms=2,
        )
        try:
            await asyncio.wait_for(producer.start(), timeout=self._timeout_ms / 1000)
        except BaseException:
            await _quietly_stop(producer)
            raise
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _quietly_stop(producer)

    async def send_batch(self, records: Sequence[tuple[str, str, bytes, list[tuple[str, bytes]]]]) -> None:
        if self._producer is None:
            await self.start()
        futures = [
            await self._producer.send(topic, value=value, key=key.encode(), headers=headers)
            for topic, key, value, headers in records
        ]
        await asyncio.wait_for(asyncio.gather(*futures), timeout=self._timeout_ms / 1000)


async def _quietly_stop(producer: Any) -> None:
    try:
        await asyncio.wait_for(producer.stop(), timeout=5)
    except Exception:  # a producer that never connected may fail to stop; it holds nothing
        log.debug("producer stop failed", exc_info=True)


class OutboxRelay:
    """Publishes outbox rows to the broker, in id order, until told to stop."""

    def __init__(
        self,
        engine: AsyncEngine,
        producer: EventProducer,
        *,
        name: str,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._name = name
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        # Advisory lock keys are per database, so one key per relay name is enough.
        self._lock_key = zlib.crc32(f"lectern-outbox-relay:{name}".encode())
        self._wake = asyncio.Event()
        self.published = 0

    @classmethod
    def for_service(cls, engine: AsyncEngine, settings: ServiceSettings) -> OutboxRelay:
        """The relay of a service's own database to the broker its settings name."""
        name = settings.service_name
        return cls(engine, KafkaEventProducer(settings.kafka_bootstrap, client_id=f"lectern-{name}"), name=name)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; the lock connection holds leadership across replicas."""
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._lead(stop)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox relay %s: lost its connection, retrying", self._name, exc_info=True)
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, self._max_backoff)
        await self._producer.stop()

    async def _lead(self, stop: asyncio.Event) -> None:
        async with self._engine.connect() as lock_conn:
            got = (await lock_conn.execute(select(func.pg_try_advisory_lock(self._lock_key)))).scalar()
            await lock_conn.commit()
            if not got:
                # Another replica relays; check again later in case it goes away.
                await sleep_or_stop(stop, self._poll_interval * 5)
                return
            raw = await lock_conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None, "a connection checked out of the pool has a driver connection"
            listener = lambda *_: self._wake.set()  # noqa: E731 - asyncpg wants a plain callable
            await driver.add_listener(NOTIFY_CHANNEL, listener)
            try:
                await self._drain_until_stopped(stop)
            finally:
                await driver.remove_listener(NOTIFY_CHANNEL, listener)
                await lock_conn.execute(select(func.pg_advisory_unlock(self._lock_key)))
                await lock_conn.commit()

    async def _drain_until_stopped(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            self._wake.clear()
            try:
                sent = await self.relay_once()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay %s: publish failed (%s), will retry", self._name, exc)
                await self._producer.stop()
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if sent < self._batch_size:
                await wait_any([stop, self._wake], self._poll_interval)
        # Flush what committed before the stop so a graceful shutdown leaves nothing behind.
        try:
            while await self.relay_once() == self._batch_size:
                pass
        except Exception:
            log.warning("outbox relay %s: could not flush on shutdown; rows stay for the next run", self._name)

    async def relay_once(self) -> int:
        """Publish one batch and delete it; answers how many rows went out."""
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(
                        outbox_events.c.id,
                        outbox_events.c.topic,
                        outbox_events.c.key,
                        outbox_events.c.value,
                        outbox_events.c.headers,
                    )
                    .order_by(outbox_events.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await self._producer.send_batch(
                [(r.topic, r.key, r.value, [(k, v.encode()) for k, v in r.headers]) for r in rows]
            )
            await conn.execute(delete(outbox_events).where(outbox_events.c.id.in_([r.id for r in rows])))
        self.published += len(rows)
        return len(rows)
