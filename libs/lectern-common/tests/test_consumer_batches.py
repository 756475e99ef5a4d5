"""The opt-in batch path of EventConsumer: a fetched batch is applied in one transaction with one
processed_events insert; a batch that fails is taken one event at a time (a poison event parked
alone, the rest applied); duplicates inside a batch and across batches are applied once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from lectern.events.v1.course_events_pb2 import CourseChanged
from lectern_common.consumer import EventConsumer
from lectern_common.db import UnitOfWork
from lectern_common.devstack.infra import KafkaBroker
from lectern_common.events import Event, build_envelope
from lectern_common.plumbing_tables import parked_events, processed_events
from sqlalchemy import Column, Integer, MetaData, String, Table, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

TEST_METADATA = MetaData()
applied = Table(
    "batch_applied",
    TEST_METADATA,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String),
)


class _Record:
    """The fields of an aiokafka ConsumerRecord the consumer reads."""

    def __init__(self, value: bytes, offset: int) -> None:
        self.topic, self.partition, self.offset = "t", 0, offset
        self.value, self.headers = value, []


def envelope(event_id: str, event_type: str = "course.created") -> bytes:
    return build_envelope(
        event_type=event_type,
        aggregate_id="c1",
        aggregate_version=1,
        actor_id="u1",
        payload=CourseChanged(course_id="c1"),
        event_id=event_id,
    ).SerializeToString()


class Recorder:
    """A handler and its batch form with the same effect; either refuses the ``poison`` ids."""

    def __init__(self, poison: frozenset[str] = frozenset()) -> None:
        self.poison = poison
        self.batches: list[list[str]] = []

    async def one(self, session: AsyncSession, event: Event) -> None:
        if event.id in self.poison:
            raise ValueError(f"cannot apply {event.id}")
        await session.execute(insert(applied).values(event_id=event.id))

    async def many(self, session: AsyncSession, events: Sequence[Event]) -> None:
        self.batches.append([e.id for e in events])
        for one in events:
            await self.one(session, one)


def consumer_for(
    engine: AsyncEngine,
    recorder: Recorder,
    bootstrap_servers: str = "unused:1",
    group_id: str = "g",
    topics: Sequence[str] = ("t",),
    event_types: frozenset[str] | None = None,
) -> EventConsumer:
    return EventConsumer(
        name=f"batcher-{uuid.uuid4().hex[:6]}",
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        topics=topics,
        uow=UnitOfWork(engine),
        handler=recorder.one,
        batch_handler=recorder.many,
        event_types=event_types,
    )


async def applied_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(applied.c.event_id).order_by(applied.c.n))).scalars())


async def test_a_batch_is_applied_in_one_transaction_with_one_processed_events_insert(engine: AsyncEngine) -> None:
    recorder = Recorder()
    consumer = consumer_for(engine, recorder, event_types=frozenset({"course.created"}))
    ids = [str(uuid.uuid4()) for _ in range(5)]
    records = [_Record(envelope(i), n) for n, i in enumerate(ids)]
    records.insert(2, _Record(envelope(str(uuid.uuid4()), "course.chapter.renamed"), 99))  # not acted on
    begins: list[object] = []
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def began(conn: Any) -> None:
        begins.append(conn)

    event.listen(engine.sync_engine, "begin", began)
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        assert await consumer.process_batch(records) is True
    finally:
        event.remove(engine.sync_engine, "begin", began)
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert len(begins) == 1
    assert sum(s.lstrip().upper().startswith("INSERT INTO PROCESSED_EVENTS") for s in statements) == 1
    assert recorder.batches == [ids]
    assert await applied_ids(engine) == ids
    assert (consumer.applied, consumer.ignored, consumer.duplicates, consumer.batches) == (5, 1, 0, 1)


async def test_duplicates_inside_a_batch_and_across_batches_are_applied_once(engine: AsyncEngine) -> None:
    recorder = Recorder()
    consumer = consumer_for(engine, recorder)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert await consumer.process_batch([_Record(envelope(first), 0), _Record(envelope(first), 1)]) is True
    # A redelivery (a crash between the commit and the offset commit) with one new event.
    assert await consumer.process_batch([_Record(envelope(first), 0), _Record(envelope(second), 2)]) is True
    assert await consumer.process_batch([_Record(envelope(second), 2)]) is True
    assert recorder.batches == [[first], [second]]  # the last batch held nothing new: no handler call
    assert await applied_ids(engine) == [first, second]
    assert (consumer.applied, consumer.duplicates) == (2, 3)
    async with engine.connect() as conn:
        remembered = (
            await conn.execute(select(func.count()).where(processed_events.c.consumer == consumer.name))
        ).scalar_one()
    assert remembered == 2


async def test_a_failing_batch_applies_nothing_and_answers_false(engine: AsyncEngine) -> None:
    poison = str(uuid.uuid4())
    recorder = Recorder(poison=frozenset({poison}))
    consumer = consumer_for(engine, recorder)
    records = [_Record(envelope(str(uuid.uuid4())), 0), _Record(envelope(poison), 1)]
    assert await consumer.process_batch(records) is False
    assert await consumer.process_batch([*records, _Record(b"\x00not-an-envelope", 2)]) is False
    assert await applied_ids(engine) == []
    assert (consumer.applied, consumer.fallbacks) == (0, 2)
    async with engine.connect() as conn:
        remembered = (await conn.execute(select(func.count()).select_from(processed_events))).scalar_one()
    assert remembered == 0  # rolled back with the batch: the one-event path applies them later


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def test_through_the_broker_a_poison_event_in_a_batch_is_parked_alone_and_the_rest_applied(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    broker = KafkaBroker(tmp_path)
    await broker.start(timeout=60)
    try:
        bootstrap = f"127.0.0.1:{broker.port}"
        topic = f"test.batches.{uuid.uuid4().hex[:8]}"
        await _create_topic(bootstrap, topic)
        ids = [str(uuid.uuid4()) for _ in range(6)]
        values = [envelope(i) for i in ids]
        values.insert(4, b"\x00not-an-envelope")  # offset 4: undecodable
        values.append(envelope(ids[0]))  # offset 7: a duplicate of offset 0
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(topic, value)
        finally:
            await producer.stop()

        recorder = Recorder(poison=frozenset({ids[2]}))
        group_id = f"g-{uuid.uuid4()}"
        consumer = consumer_for(engine, recorder, bootstrap_servers=bootstrap, group_id=group_id, topics=[topic])
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
        await probe.start()
        try:
            async with asyncio.timeout(30):
                while await probe.committed(TopicPartition(topic, 0)) != len(values):
                    await asyncio.sleep(0.1)
        finally:
            await probe.stop()
            stop.set()
            await asyncio.wait_for(task, timeout=15)
    finally:
        await broker.stop()

    assert await applied_ids(engine) == [i for i in ids if i != ids[2]]
    assert (consumer.applied, consumer.parked, consumer.duplicates) == (5, 2, 1)
    assert consumer.fallbacks >= 1
    async with engine.connect() as conn:
        parked = (
            await conn.execute(
                select(parked_events.c.offset, parked_events.c.event_id).order_by(parked_events.c.offset)
            )
        ).all()
    assert [(p.offset, p.event_id) for p in parked] == [(2, ids[2]), (4, None)]
