"""An idempotent Kafka consumer: each event is applied once, in its own transaction.

For every record: decode the envelope; in one transaction, remember its id in
``processed_events`` (a duplicate is skipped) and run the handler; commit the transaction. Offsets
are committed after each fetched batch (also when stopping mid-batch).

A consumer given a ``batch_handler`` (opt-in) applies each partition's fetched records in ONE
transaction instead: one multi-row ``processed_events`` insert says which ids are new, and the
batch handler applies those events in order. A transaction costs ~660 us of CPU here whatever it
does, which a batch of 100 pays once. When the batch fails for any reason it is rolled back and its
records go through the one-event path above, so a poison event is parked alone and a retryable
error retries as before. Errors the handler marks as
retryable (and lost database connections) are retried with backoff without moving the offset;
anything else is parked in ``parked_events`` with its error and skipped, so a poison message never
blocks its partition (STYLE rule 5, after centrifugo).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from opentelemetry import context as otel_context
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_common.db import UnitOfWork
from lectern_common.events import Event, MalformedEvent, decode_event
from lectern_common.plumbing_tables import parked_events, processed_events
from lectern_common.runtime import sleep_or_stop
from lectern_common.telemetry import extract_context, tracer

log = logging.getLogger(__name__)

EventHandler = Callable[[AsyncSession, Event], Awaitable[None]]
# Applies events (new ones, each id once, in the partition's order) inside one transaction.
BatchHandler = Callable[[AsyncSession, Sequence[Event]], Awaitable[None]]


class RetryableError(Exception):
    """Raise from a handler when the event may succeed later (a peer is down, a race)."""


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RetryableError | OperationalError | ConnectionError | TimeoutError | OSError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class EventConsumer:
    """Consumes ``topics`` as consumer group ``group_id`` and applies events with ``handler``."""

    def __init__(
        self,
        *,
        name: str,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        uow: UnitOfWork,
        handler: EventHandler,
        event_types: Collection[str] | None = None,
        max_backoff: float = 5.0,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        """``event_types``: the types ``handler`` acts on (None: all). Any other event is acknowledged
        without opening a transaction: it would change nothing, so there is nothing to deduplicate.
        ``batch_handler``: applies a fetched batch in one transaction, with the same effect as
        ``handler`` applied to each event in turn (None: one transaction per event)."""
        self.name = name
        self._bootstrap = bootstrap_servers
        self._group_id = group_id
        self._topics = list(topics)
        self._uow = uow
        self._handler = handler
        self._event_types = frozenset(event_types) if event_types is not None else None
        self._max_backoff = max_backoff
        self._batch_handler = batch_handler
        self.applied = 0
        self.batches = 0
        self.fallbacks = 0
        self.ignored = 0
        self.duplicates = 0
        self.parked = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; reconnects with backoff when the broker goes away."""
        backoff = 0.5
        while not stop.is_set():
            consumer = self._new_consumer()
            try:
                await asyncio.wait_for(consumer.start(), timeout=15)
                backoff = 0.5
                await self._consume(consumer, stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer %s: broker trouble (%s), reconnecting", self.name, exc)
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                try:
                    await asyncio.wait_for(consumer.stop(), timeout=5)
                except Exception:
                    log.debug("consumer stop failed", exc_info=True)

    def _new_consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer

        return AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            client_id=f"lectern-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=5_000,
        )

    async def _consume(self, consumer: Any, stop: asyncio.Event) -> None:
        from aiokafka import TopicPartition

        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=100)
            # Offsets are committed once per fetched batch, not per record: each commit is a broker
            # round trip, and a crash in between only redelivers events that processed_events
            # already skips as duplicates.
            done: dict[Any, int] = {}
            for partition, records in batches.items():
                if self._batch_handler is not None and len(records) > 1 and not stop.is_set():
                    if await self.process_batch(records):
                        done[TopicPartition(partition.topic, partition.partition)] = records[-1].offset + 1
                        continue
                for record in records:
                    if stop.is_set():
                        break
                    await self._process_with_retry(record, stop)
                    done[TopicPartition(partition.topic, partition.partition)] = record.offset + 1
            if done:
                await consumer.commit(done)

    async def _process_with_retry(self, record: Any, stop: asyncio.Event) -> None:
        backoff = 0.2
        while True:
            try:
                await self.process(record)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not _is_retryable(exc) or stop.is_set():
                    if stop.is_set() and _is_retryable(exc):
                        raise  # leave the offset where it is; the next run retries
                    await self._park(record, exc)
                    return
                log.warning("consumer %s: retryable failure on %s: %s", self.name, record.offset, exc)
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def process(self, record: Any) -> bool:
        """Apply one record; answers False when it was a duplicate. Public for tests."""
        headers = tuple(record.headers or ())
        event = decode_event(record.value, headers)
        if self._event_types is not None and event.type not in self._event_types:
            # A save emits events most consumers ignore; skipping them here saves a transaction
            # (BEGIN, the processed_events insert, COMMIT) per event.
            self.ignored += 1
            return True
        token = otel_context.attach(extract_context(headers))
        try:
            with tracer(__name__).start_as_current_span(f"consume {event.type}"):
                async with self._uow() as session:
                    first_time = await session.execute(
                        pg_insert(processed_events)
                        .values(consumer=self.name, event_id=event.id)
                        .on_conflict_do_nothing()
                        .returning(processed_events.c.event_id)
                    )
                    if first_time.first() is None:
                        self.duplicates += 1
                        return False
                    await self._handler(session, event)
        finally:
            otel_context.detach(token)
        self.applied += 1
        return True

    async def process_batch(self, records: Sequence[Any]) -> bool:
        """Apply ``records`` (one partition's, in order) in one transaction with the batch handler;
        answers False, having applied nothing, when any of it failed: the caller then takes the
        records one at a time. Public for tests and the bench."""
        assert self._batch_handler is not None
        try:
            events = [decode_event(r.value, tuple(r.headers or ())) for r in records]
            wanted = [e for e in events if self._event_types is None or e.type in self._event_types]
            fresh: list[Event] = []
            with tracer(__name__).start_as_current_span(f"consume batch of {len(records)}"):
                async with self._uow() as session:
                    if wanted:
                        fresh = await self._first_seen(session, wanted)
                        if fresh:
                            await self._batch_handler(session, fresh)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.fallbacks += 1
            log.info(
                "consumer %s: batch of %d failed (%r), applying it one event at a time", self.name, len(records), exc
            )
            return False
        self.batches += 1
        self.ignored += len(events) - len(wanted)
        self.duplicates += len(wanted) - len(fresh)
        self.applied += len(fresh)
        return True

    async def _first_seen(self, session: AsyncSession, events: Sequence[Event]) -> list[Event]:
        """Remember every id in one statement; the events whose id was new, each once, in order."""
        # One parameter set per id through the statement's cached compiled form (SQLAlchemy's
        # insertmanyvalues sends them as one multi-row INSERT ... RETURNING): a ``.values([...])``
        # of the ids would be compiled afresh on every batch.
        inserted = await session.execute(
            pg_insert(processed_events).on_conflict_do_nothing().returning(processed_events.c.event_id),
            [{"consumer": self.name, "event_id": event_id} for event_id in dict.fromkeys(e.id for e in events)],
        )
        new_ids = set(inserted.scalars())
        fresh: list[Event] = []
        for event in events:
            if event.id in new_ids:
                new_ids.discard(event.id)  # a second copy inside the batch is a duplicate too
                fresh.append(event)
        return fresh

    async def _park(self, record: Any, exc: BaseException) -> None:
        event_id = event_type = None
        try:
            event = decode_event(record.value, tuple(record.headers or ()))
            event_id, event_type = event.id, event.type
        except MalformedEvent:
            pass
        level = logging.INFO if isinstance(exc, MalformedEvent) else logging.ERROR
        log.log(
            level,
            "consumer %s: parking %s event %s from %s@%s: %r",
            self.name,
            event_type or "malformed",
            event_id or "(no id)",
            record.topic,
            record.offset,
            exc,
            extra={"event_id": event_id, "topic": record.topic, "offset": record.offset},
        )
        async with self._uow() as session:
            await session.execute(
                insert(parked_events).values(
                    consumer=self.name,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    # Bounded to the columns: a producer's over-long id must not make parking fail
                    # too (that would retry the record forever).
                    event_id=event_id[:64] if event_id else None,
                    event_type=event_type[:200] if event_type else None,
                    value=record.value,
                    error=repr(exc)[:4000],
                )
            )
        self.parked += 1
