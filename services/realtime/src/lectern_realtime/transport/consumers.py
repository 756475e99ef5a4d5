"""Kafka → realtime: durable upload/media/course facts become browser messages.

Idempotency lives in Redis, not in a database of processed ids (the usual
``lectern_common.consumer.EventConsumer``), on purpose: realtime owns no database, and the
publish script checks-and-marks the event id *in the same atomic step* that assigns the seq and
fans the message out. With a separate database the mark and the publish would be two systems, and a
crash between them either loses the message or sends it twice; here a redelivered event (offset
not yet committed) publishes nothing new. Each message an event causes is marked on its own
(``<event id>:<n>``), so a crash half-way through an event's messages resends only the rest.
The mark lives ``dedup_ttl_seconds`` (default 7 days), far longer than any redelivery window.

Errors follow the house rule (centrifugo): Redis trouble is retried with backoff without moving the
offset; anything else (a malformed record, a message realtime refuses, a bug in translating one) can
never succeed, so the record is parked in the dead-letter stream (:class:`DeadLetterStore`),
logged with its event id, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lectern_common.errors import DomainError, ErrorKind
from lectern_common.events import MalformedEvent, decode_event
from lectern_common.runtime import sleep_or_stop
from lectern_common.telemetry import extract_context, tracer
from opentelemetry import context as otel_context

from lectern_realtime.broker.repository import DeadLetterStore
from lectern_realtime.events.service import EventTranslator
from lectern_realtime.publishing.service import PublishService

log = logging.getLogger(__name__)


class EventFanoutConsumer:
    """Consumes the upload, media and course topics as one consumer group shared by all replicas."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group_id: str,
        translator: EventTranslator,
        publisher: PublishService,
        dead_letters: DeadLetterStore,
        max_backoff: float = 5.0,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._group_id = group_id
        self._translator = translator
        self._publisher = publisher
        self._dead_letters = dead_letters
        self._max_backoff = max_backoff
        self.published = 0
        self.duplicates = 0
        self.skipped = 0
        self.parked = 0
        self.started = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; reconnects with backoff when the broker goes away."""
        from aiokafka import AIOKafkaConsumer

        backoff = 0.5
        while not stop.is_set():
            consumer = AIOKafkaConsumer(
                *self._translator.topics,
                bootstrap_servers=self._bootstrap,
                group_id=self._group_id,
                client_id="lectern-realtime",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                metadata_max_age_ms=5_000,
            )
            try:
                await asyncio.wait_for(consumer.start(), timeout=15)
                self.started.set()
                backoff = 0.5
                await self._consume(consumer, stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("realtime consumer: broker trouble (%r), reconnecting", exc)
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                try:
                    await asyncio.wait_for(consumer.stop(), timeout=5)
                except Exception:
                    log.debug("consumer stop failed", exc_info=True)

    async def _consume(self, consumer: Any, stop: asyncio.Event) -> None:
        from aiokafka import TopicPartition

        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            for partition, records in batches.items():
                done = None
                for record in records:
                    if not await self._process_with_retry(record, stop):
                        break
                    done = record.offset
                if done is not None:
                    await consumer.commit({TopicPartition(partition.topic, partition.partition): done + 1})
                if stop.is_set():
                    return

    async def _process_with_retry(self, record: Any, stop: asyncio.Event) -> bool:
        """True when the record is done with (applied or skipped); False when stopping mid-retry."""
        backoff = 0.2
        while True:
            try:
                await self.process(
                    record.topic,
                    record.value,
                    tuple(record.headers or ()),
                    partition=record.partition,
                    offset=record.offset,
                )
                return True
            except DomainError as exc:
                if exc.kind is not ErrorKind.UNAVAILABLE:
                    raise  # process() only lets UNAVAILABLE out
                if stop.is_set():
                    return False
                log.warning("realtime consumer: retrying %s@%s: %s", record.topic, record.offset, exc.message)
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def process(
        self,
        topic: str,
        value: bytes | None,
        headers: tuple[tuple[str, bytes], ...] = (),
        *,
        partition: int | None = None,
        offset: int | None = None,
    ) -> int:
        """Publish what one record causes; answers how many messages were new. Public for tests.

        Only UNAVAILABLE (Redis) leaves it, to be retried; every other failure parks the record.
        """
        try:
            event = decode_event(value, headers)
        except MalformedEvent as exc:
            await self._park(topic, partition, offset, None, None, f"malformed record: {exc}")
            return 0
        token = otel_context.attach(extract_context(headers))
        published = 0
        refused: list[str] = []
        try:
            with tracer(__name__).start_as_current_span(f"realtime {event.type}"):
                try:
                    outgoing = self._translator.messages_for(topic, event)
                except DomainError as exc:
                    outgoing, refused = [], [f"{exc.code}: {exc.message}"]
                except Exception as exc:  # a bug in translating: retrying cannot help
                    log.exception("realtime consumer: translating %s %s failed", event.type, event.id)
                    outgoing, refused = [], [f"translation failed: {type(exc).__name__}"]
                for index, out in enumerate(outgoing):
                    try:
                        result = await self._publisher.publish(out.channel, out.message, dedup_id=f"{event.id}:{index}")
                    except DomainError as exc:
                        if exc.kind is ErrorKind.UNAVAILABLE:
                            raise
                        refused.append(f"{exc.code}: {exc.message}")
                        continue
                    if result.duplicate:
                        self.duplicates += 1
                    else:
                        published += 1
        finally:
            otel_context.detach(token)
        self.published += published
        if refused:
            await self._park(topic, partition, offset, event.id, event.type, "; ".join(refused))
        return published

    async def _park(
        self,
        topic: str,
        partition: int | None,
        offset: int | None,
        event_id: str | None,
        event_type: str | None,
        error: str,
    ) -> None:
        """Put a record realtime can never publish in the dead-letter stream, and say so."""
        log.error(
            "realtime consumer: parking %s event %s from %s@%s: %s",
            event_type or "malformed",
            event_id or "(no id)",
            topic,
            offset,
            error,
            extra={"event_id": event_id, "topic": topic, "offset": offset},
        )
        try:
            await self._dead_letters.park(
                topic=topic,
                partition=partition,
                offset=offset,
                event_id=event_id,
                event_type=event_type,
                error=error,
            )
        except Exception as exc:  # Redis is down: retry the whole record later, like a publish
            raise DomainError("realtime.unavailable", "dead-letter store unavailable", ErrorKind.UNAVAILABLE) from exc
        self.skipped += 1
        self.parked += 1
