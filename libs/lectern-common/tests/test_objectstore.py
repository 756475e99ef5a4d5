"""The S3 object store against the session's real S3: what it answers, and the one error every
failure reaches callers as (ObjectStoreUnavailable, with the SDK's error as its cause)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from lectern_common.devstack.ports import free_port
from lectern_common.objectstore import ObjectStore, ObjectStoreUnavailable, S3ObjectStore

BUCKET = "lectern-common-objectstore-tests"


def store_for(infra: Any, *, endpoint: str | None = None) -> S3ObjectStore:
    return S3ObjectStore(
        endpoint_url=endpoint or infra.urls.s3_endpoint,
        bucket=BUCKET,
        access_key=infra.urls.s3_access_key,
        secret_key=infra.urls.s3_secret_key,
    )


async def test_objects_and_ranges_round_trip_and_a_missing_head_is_none(lectern_infra: Any) -> None:
    await lectern_infra.ensure_bucket(BUCKET)
    store: ObjectStore = store_for(lectern_infra)
    key = f"t/{secrets.token_hex(6)}"

    await store.put_object(key, bytearray(b"0123456789"))

    assert await store.get_object(key) == b"0123456789"
    assert await store.get_object_range(key, 2, 5) == b"2345"
    assert await store.head_object(f"{key}.absent") is None
    await store.delete_object(key)
    assert await store.head_object(key) is None


async def test_an_error_answer_is_object_store_unavailable_naming_the_operation(lectern_infra: Any) -> None:
    await lectern_infra.ensure_bucket(BUCKET)
    store = store_for(lectern_infra)

    with pytest.raises(ObjectStoreUnavailable, match="get_object") as raised:
        await store.get_object(f"t/{secrets.token_hex(6)}.absent")

    from botocore.exceptions import ClientError

    assert isinstance(raised.value.__cause__, ClientError)
    assert "NoSuchKey" not in str(raised.value)  # the SDK's text stays in the cause


async def test_an_unreachable_store_is_object_store_unavailable(lectern_infra: Any) -> None:
    store = store_for(lectern_infra, endpoint=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(ObjectStoreUnavailable, match="create_multipart_upload"):
        await store.create_multipart_upload("t/unreachable")
    with pytest.raises(ObjectStoreUnavailable, match="head_object"):
        await store.head_object("t/unreachable")
