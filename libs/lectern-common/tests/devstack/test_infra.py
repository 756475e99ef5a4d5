"""The four servers answer real clients: what every service's integration tests rely on."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

import asyncpg
import redis.asyncio as redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from lectern_common.devstack.infra import Infra


async def test_database_factory_gives_a_fresh_database_that_answers_queries(
    lectern_database_url: Callable[..., Awaitable[str]],
) -> None:
    url = await lectern_database_url()
    assert url.startswith("postgresql+asyncpg://")
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=10)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        await conn.execute("CREATE TABLE t (id int)")
        await conn.execute("INSERT INTO t VALUES (1), (2)")
        assert await conn.fetchval("SELECT sum(id) FROM t") == 3
    finally:
        await conn.close()


async def test_each_database_factory_call_creates_a_distinct_database(
    lectern_database_url: Callable[..., Awaitable[str]],
) -> None:
    assert await lectern_database_url() != await lectern_database_url()


async def test_redis_answers_ping_and_keeps_values(lectern_infra: Infra) -> None:
    client = redis.from_url(lectern_infra.urls.redis_url, socket_timeout=5)
    try:
        assert await client.ping()
        key = f"test:{secrets.token_hex(4)}"
        await client.set(key, "v", ex=60)
        assert await client.get(key) == b"v"
    finally:
        await client.aclose()


async def test_kafka_topic_created_by_helper_carries_a_message(lectern_infra: Infra) -> None:
    topic = f"test.devstack.{secrets.token_hex(4)}"
    await lectern_infra.create_topics([topic], partitions=1)
    await lectern_infra.create_topics([topic], partitions=1)  # idempotent

    bootstrap = lectern_infra.urls.kafka_bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"hello", key=b"k"), timeout=20)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        message = await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"k", b"hello")


async def test_s3_bucket_accepts_put_get_and_multipart_upload(lectern_infra: Infra) -> None:
    bucket = f"test-{secrets.token_hex(4)}"
    await lectern_infra.ensure_bucket(bucket)
    await lectern_infra.ensure_bucket(bucket)  # idempotent
    client = await asyncio.to_thread(lectern_infra.s3_client)

    def round_trip() -> tuple[bytes, bytes]:
        client.put_object(Bucket=bucket, Key="small", Body=b"hello")
        small = client.get_object(Bucket=bucket, Key="small")["Body"].read()
        upload = client.create_multipart_upload(Bucket=bucket, Key="big")
        part_size = 5 * 1024 * 1024  # S3's minimum for every part but the last
        parts = []
        for number, body in enumerate([b"a" * part_size, b"b" * 1024], start=1):
            etag = client.upload_part(
                Bucket=bucket, Key="big", UploadId=upload["UploadId"], PartNumber=number, Body=body
            )["ETag"]
            parts.append({"ETag": etag, "PartNumber": number})
        client.complete_multipart_upload(
            Bucket=bucket, Key="big", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
        )
        return small, client.get_object(Bucket=bucket, Key="big")["Body"].read()

    small, big = await asyncio.to_thread(round_trip)
    assert small == b"hello"
    assert big == b"a" * (5 * 1024 * 1024) + b"b" * 1024


async def test_s3_refuses_a_wrong_secret_key(lectern_infra: Infra) -> None:
    import boto3
    import botocore.exceptions
    import pytest

    urls = lectern_infra.urls
    client = boto3.client(
        "s3",
        endpoint_url=urls.s3_endpoint,
        aws_access_key_id=urls.s3_access_key,
        aws_secret_access_key="wrong",
        region_name=urls.s3_region,
    )
    with pytest.raises(botocore.exceptions.ClientError):
        await asyncio.to_thread(client.list_buckets)
