"""The outbox loses nothing across a broker outage, and consumers apply each event once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from lectern.events.v1.course_events_pb2 import CourseChanged
from lectern_common.consumer import EventConsumer
from lectern_common.db import UnitOfWork
from lectern_common.devstack.infra import KafkaBroker
from lectern_common.events import EVENT_ID_HEADER, Event, build_envelope, decode_event
from lectern_common.outbox import NOTIFY_CHANNEL, KafkaEventProducer, OutboxRelay, OutboxWriter
from lectern_common.plumbing_tables import outbox_events
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

TEST_METADATA = MetaData()
courses = Table("courses", TEST_METADATA, Column("id", String, primary_key=True), Column("title", String))
applied = Table(
    "applied", TEST_METADATA, Column("n", Integer, primary_key=True, autoincrement=True), Column("event_id", String)
)


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[KafkaBroker]:
    """A broker of this test's own, so the test can stop and restart it."""
    server = KafkaBroker(tmp_path)
    await server.start(timeout=60)
    yield server
    await server.stop()


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _read_all(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4()}",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for items in batch.values():
                    records += items
        # Linger a little: a duplicate would show up now.
        extra = await consumer.getmany(timeout_ms=1500)
        for items in extra.values():
            records += items
    finally:
        await consumer.stop()
    return records


async def _write_course_with_event(uow: UnitOfWork, topic: str, course_id: str) -> str:
    async with uow() as session:
        await session.execute(insert(courses).values(id=course_id, title="Intro"))
        return await OutboxWriter().add(
            session,
            topic=topic,
            event_type="course.created",
            aggregate_id=course_id,
            aggregate_version=1,
            actor_id="u1",
            payload=CourseChanged(course_id=course_id, title="Intro"),
        )


async def _outbox_size(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(outbox_events))).scalar_one())


async def test_event_committed_while_broker_is_down_is_delivered_once_after_it_returns(
    engine: AsyncEngine, broker: KafkaBroker
) -> None:
    bootstrap = f"127.0.0.1:{broker.port}"
    topic = f"test.outbox.{uuid.uuid4().hex[:8]}"
    await broker.stop()

    event_id = await _write_course_with_event(UnitOfWork(engine), topic, "c1")

    relay = OutboxRelay(
        engine,
        KafkaEventProducer(bootstrap, client_id="test-relay", request_timeout_ms=2000),
        name="test",
        poll_interval=0.2,
        max_backoff=0.5,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(3)
        assert relay.published == 0
        assert await _outbox_size(engine) == 1, "the event must wait in the outbox while the broker is down"

        await broker.start(timeout=60)  # same port; the broker kept nothing, so make the topic again
        await _create_topic(bootstrap, topic)
        async with asyncio.timeout(30):
            while await _outbox_size(engine):
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)

    records = await _read_all(bootstrap, topic, expected=1)
    assert [decode_event(r.value).id for r in records] == [event_id]
    assert records[0].key == b"c1"
    assert dict(records[0].headers)["lectern-event-type"] == b"course.created"
    assert decode_event(records[0].value).unpack(CourseChanged).title == "Intro"


async def test_rolled_back_change_publishes_nothing(engine: AsyncEngine) -> None:
    uow = UnitOfWork(engine)
    with pytest.raises(RuntimeError):
        async with uow() as session:
            await OutboxWriter().add(
                session,
                topic="t",
                event_type="course.created",
                aggregate_id="c2",
                aggregate_version=1,
                actor_id="u1",
                payload=CourseChanged(course_id="c2"),
            )
            raise RuntimeError("the change failed")
    assert await _outbox_size(engine) == 0


class _Record:
    """The fields of an aiokafka ConsumerRecord the consumer reads."""

    def __init__(self, value: bytes, headers: list[tuple[str, bytes]], offset: int) -> None:
        self.topic, self.partition, self.offset = "t", 0, offset
        self.value, self.headers = value, headers


async def test_consumer_applies_an_event_seen_twice_once(engine: AsyncEngine, broker: KafkaBroker) -> None:
    bootstrap = f"127.0.0.1:{broker.port}"
    topic = f"test.consumer.{uuid.uuid4().hex[:8]}"
    await _create_topic(bootstrap, topic)
    uow = UnitOfWork(engine)
    event_id = await _write_course_with_event(uow, topic, "c3")
    relay = OutboxRelay(engine, KafkaEventProducer(bootstrap, client_id="test-relay"), name="test")
    assert await relay.relay_once() == 1
    await relay._producer.stop()

    async def handler(session: AsyncSession, event: Event) -> None:
        await session.execute(insert(applied).values(event_id=event.id))

    consumer = EventConsumer(
        name="test-consumer",
        bootstrap_servers=bootstrap,
        group_id=f"g-{uuid.uuid4()}",
        topics=[topic],
        uow=uow,
        handler=handler,
    )
    # Run the real consumer loop against the broker, then replay the same record by hand:
    # a redelivery after a crash between commit and offset commit looks exactly like this.
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    async with asyncio.timeout(30):
        while consumer.applied < 1:
            await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, timeout=15)

    record = (await _read_all(bootstrap, topic, expected=1))[0]
    assert await consumer.process(_Record(record.value, list(record.headers), record.offset)) is False

    async with engine.connect() as conn:
        rows = (await conn.execute(select(applied.c.event_id))).scalars().all()
    assert rows == [event_id]
    assert consumer.duplicates == 1


async def test_consumer_parks_a_poison_record_and_moves_on(engine: AsyncEngine) -> None:
    seen: list[str] = []

    async def handler(session: AsyncSession, event: Event) -> None:
        seen.append(event.id)

    consumer = EventConsumer(
        name="parker", bootstrap_servers="unused:1", group_id="g", topics=["t"], uow=UnitOfWork(engine), handler=handler
    )
    await consumer._process_with_retry(_Record(b"\x00not-an-envelope", [], 7), asyncio.Event())
    assert consumer.parked == 1
    assert seen == []
    async with engine.connect() as conn:
        from lectern_common.plumbing_tables import parked_events

        parked = (await conn.execute(select(parked_events.c.offset, parked_events.c.error))).one()
    assert parked.offset == 7
    assert "EventEnvelope" in parked.error or "envelope" in parked.error


async def test_an_event_that_can_never_be_applied_is_parked_with_its_id_and_logged(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 item 4: a handler's non-retryable failure parks the event and the log line names
    its id; an id longer than the columns (a producer's bug) is parked too, bounded, instead of
    making parking fail and the partition loop."""

    async def handler(session: AsyncSession, event: Event) -> None:
        raise ValueError(f"cannot apply {event.type}")

    consumer = EventConsumer(
        name=f"parker-{uuid.uuid4().hex[:6]}",
        bootstrap_servers="unused:1",
        group_id="g",
        topics=["t"],
        uow=UnitOfWork(engine),
        handler=handler,
    )

    def record(event_id: str, offset: int) -> _Record:
        envelope = build_envelope(
            event_type="course.created",
            aggregate_id="c9",
            aggregate_version=1,
            actor_id="auth0|someone",
            payload=CourseChanged(course_id="c9"),
            event_id=event_id,
        )
        return _Record(envelope.SerializeToString(), [], offset)

    ordinary, long_id = str(uuid.uuid4()), "e" * 100
    with caplog.at_level(logging.ERROR, logger="lectern_common.consumer"):
        await consumer._process_with_retry(record(ordinary, 11), asyncio.Event())
        await consumer._process_with_retry(record(long_id, 12), asyncio.Event())
    assert consumer.parked == 2
    assert any(ordinary in line.getMessage() for line in caplog.records)
    async with engine.connect() as conn:
        from lectern_common.plumbing_tables import parked_events

        rows = (
            await conn.execute(
                select(parked_events.c.offset, parked_events.c.event_id, parked_events.c.error)
                .where(parked_events.c.consumer == consumer.name)
                .order_by(parked_events.c.offset)
            )
        ).all()
    assert [(r.offset, r.event_id) for r in rows] == [(11, ordinary), (12, long_id[:64])]
    assert "cannot apply course.created" in rows[0].error


async def test_one_transaction_notifies_the_relay_once_however_many_events(engine: AsyncEngine) -> None:
    from lectern_common.outbox import PendingEvent
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        writer = OutboxWriter()
        async with UnitOfWork(engine)() as session:
            await writer.add(
                session,
                topic="t",
                event_type="course.created",
                aggregate_id="c4",
                aggregate_version=1,
                actor_id="u1",
                payload=CourseChanged(course_id="c4"),
            )
            ids = await writer.add_many(
                session,
                [
                    PendingEvent("t", "course.updated", "c4", v, "u1", CourseChanged(course_id="c4", version=v))
                    for v in (2, 3, 4)
                ],
            )
        async with UnitOfWork(engine)() as session:  # a new transaction notifies again
            await writer.add(
                session,
                topic="t",
                event_type="course.updated",
                aggregate_id="c4",
                aggregate_version=5,
                actor_id="u1",
                payload=CourseChanged(course_id="c4"),
            )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert len(ids) == 3
    # Three calls, three statements: the NOTIFY rides on each transaction's first insert.
    assert len(statements) == 3
    assert sum("pg_notify" in s for s in statements) == 2
    assert all("INSERT INTO outbox_events" in s for s in statements)
    assert await _outbox_size(engine) == 5


async def test_the_notify_is_delivered_at_commit_and_never_for_a_rollback(engine: AsyncEngine) -> None:
    async with engine.connect() as listen_conn:
        driver = (await listen_conn.get_raw_connection()).driver_connection
        assert driver is not None
        heard: asyncio.Queue[str] = asyncio.Queue()
        await driver.add_listener(NOTIFY_CHANNEL, lambda _c, _p, channel, _payload: heard.put_nowait(channel))
        uow = UnitOfWork(engine)
        with pytest.raises(RuntimeError):
            async with uow() as session:
                await _add_event(session, "rolled-back")
                raise RuntimeError("the change fails")
        async with uow() as session:
            await _add_event(session, "c5")
            await asyncio.sleep(0.2)
            assert heard.empty(), "a NOTIFY must wait for the commit"
        assert await asyncio.wait_for(heard.get(), timeout=5) == NOTIFY_CHANNEL
        await asyncio.sleep(0.2)
        assert heard.empty(), "the rolled-back transaction notified"
    async with engine.connect() as conn:
        keys = (await conn.execute(select(outbox_events.c.key))).scalars().all()
    assert keys == ["c5"]


async def test_events_of_one_call_get_ids_in_the_order_given(engine: AsyncEngine) -> None:
    from lectern_common.outbox import PendingEvent

    versions = [5, 1, 4, 2, 3, 9, 7]
    async with UnitOfWork(engine)() as session:
        ids = await OutboxWriter().add_many(
            session,
            [
                PendingEvent("t", "course.updated", "c6", v, "u1", CourseChanged(course_id="c6", version=v))
                for v in versions
            ],
        )
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox_events).order_by(outbox_events.c.id))).all()
    assert [r.event_id for r in rows] == ids
    assert [decode_event(r.value).aggregate_version for r in rows] == versions
    assert all([EVENT_ID_HEADER, r.event_id] in r.headers for r in rows)


async def _add_event(session: AsyncSession, course_id: str) -> str:
    return await OutboxWriter().add(
        session,
        topic="t",
        event_type="course.created",
        aggregate_id=course_id,
        aggregate_version=1,
        actor_id="u1",
        payload=CourseChanged(course_id=course_id),
    )


async def test_consumer_commits_the_offset_after_each_batch_it_applied(
    engine: AsyncEngine, broker: KafkaBroker
) -> None:
    bootstrap = f"127.0.0.1:{broker.port}"
    topic = f"test.consumer.{uuid.uuid4().hex[:8]}"
    await _create_topic(bootstrap, topic)
    uow = UnitOfWork(engine)
    for n in range(3):
        await _write_course_with_event(uow, topic, f"batch-{n}")
    relay = OutboxRelay(engine, KafkaEventProducer(bootstrap, client_id="test-relay"), name="test")
    assert await relay.relay_once() == 3
    await relay._producer.stop()

    async def handler(session: AsyncSession, event: Event) -> None:
        await session.execute(insert(applied).values(event_id=event.id))

    group_id = f"g-{uuid.uuid4()}"
    consumer = EventConsumer(
        name="test-consumer", bootstrap_servers=bootstrap, group_id=group_id, topics=[topic], uow=uow, handler=handler
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    async with asyncio.timeout(30):
        while consumer.applied < 3:
            await asyncio.sleep(0.1)
        # The commit follows the last record of the batch; the group's offset then points past it.
        probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
        await probe.start()
        try:
            while await probe.committed(TopicPartition(topic, 0)) != 3:
                await asyncio.sleep(0.1)
        finally:
            await probe.stop()
    stop.set()
    await asyncio.wait_for(task, timeout=15)
    assert consumer.duplicates == 0


async def test_consumer_acknowledges_event_types_its_handler_does_not_act_on_without_recording_them(
    engine: AsyncEngine,
) -> None:
    from lectern_common.events import build_envelope
    from lectern_common.plumbing_tables import processed_events

    seen: list[str] = []

    async def handler(session: AsyncSession, event: Event) -> None:
        seen.append(event.type)

    consumer = EventConsumer(
        name="picky",
        bootstrap_servers="unused:1",
        group_id="g",
        topics=["t"],
        uow=UnitOfWork(engine),
        handler=handler,
        event_types={"course.created"},
    )

    def record(event_type: str, offset: int) -> _Record:
        envelope = build_envelope(
            event_type=event_type, aggregate_id="c9", aggregate_version=1, actor_id="u1", payload=CourseChanged()
        )
        return _Record(envelope.SerializeToString(), [], offset)

    assert await consumer.process(record("course.chapter.renamed", 0)) is True  # acknowledged, not a duplicate
    assert await consumer.process(record("course.created", 1)) is True
    assert seen == ["course.created"]
    assert (consumer.ignored, consumer.applied) == (1, 1)
    async with engine.connect() as conn:
        recorded = (await conn.execute(select(func.count()).where(processed_events.c.consumer == "picky"))).scalar_one()
    assert recorded == 1
