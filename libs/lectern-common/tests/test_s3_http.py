"""The botocore-free S3 store against the session's real S3 (SeaweedFS checks every signature), and
against a local server that fails on purpose: what is retried, and the one error the rest reaches
callers as."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from lectern_common.devstack.ports import free_port
from lectern_common.objectstore import ObjectStore, ObjectStoreUnavailable
from lectern_common.s3_http import HttpS3ObjectStore, S3ErrorAnswer

BUCKET = "lectern-common-s3-http-tests"
MIB = 1024 * 1024


def store_for(infra: Any, *, endpoint: str | None = None, bucket: str = BUCKET, **options: Any) -> HttpS3ObjectStore:
    return HttpS3ObjectStore(
        endpoint_url=endpoint or infra.urls.s3_endpoint,
        bucket=bucket,
        access_key=infra.urls.s3_access_key,
        secret_key=infra.urls.s3_secret_key,
        **options,
    )


async def test_objects_ranges_and_listing_round_trip(lectern_infra: Any) -> None:
    store: ObjectStore = store_for(lectern_infra)
    await store_for(lectern_infra).ensure_bucket()
    prefix = f"t/{secrets.token_hex(6)}/"
    key = prefix + "a b+ü.bin"  # a key that needs encoding in the path and the signature

    await store.put_object(key, bytearray(b"0123456789"), content_type="application/octet-stream")

    assert await store.get_object(key) == b"0123456789"
    assert await store.get_object_range(key, 2, 5) == b"2345"
    head = await store.head_object(key)
    assert head is not None and head["ContentLength"] == 10
    assert await store.list_keys(prefix) == [key]
    assert await store.head_object(f"{key}.absent") is None
    await store.delete_object(key)
    assert await store.head_object(key) is None


async def test_a_multipart_upload_signed_or_not_completes_to_its_parts(lectern_infra: Any) -> None:
    for signing in (False, True):
        store = store_for(lectern_infra, payload_signing=signing)
        await store.ensure_bucket()
        key = f"t/{secrets.token_hex(6)}"
        first, last = bytearray(secrets.token_bytes(5 * MIB)), secrets.token_bytes(1000)

        upload_id = await store.create_multipart_upload(key, content_type="video/mp4")
        assert (key, upload_id) in await store.list_multipart_uploads("t/")
        parts = [await store.upload_part(key, upload_id, 1, first), await store.upload_part(key, upload_id, 2, last)]
        assert [(p.number, p.size) for p in await store.list_parts(key, upload_id)] == [(1, 5 * MIB), (2, 1000)]
        await store.complete_multipart_upload(key, upload_id, parts)

        assert await store.get_object(key) == bytes(first) + last
        await store.delete_object(key)


async def test_an_aborted_upload_is_gone(lectern_infra: Any) -> None:
    store = store_for(lectern_infra)
    await store.ensure_bucket()
    key = f"t/{secrets.token_hex(6)}"
    upload_id = await store.create_multipart_upload(key)

    await store.abort_multipart_upload(key, upload_id)

    assert (key, upload_id) not in await store.list_multipart_uploads("t/")


async def test_an_error_answer_is_object_store_unavailable_with_the_s3_code_as_cause(lectern_infra: Any) -> None:
    store = store_for(lectern_infra)
    await store.ensure_bucket()

    with pytest.raises(ObjectStoreUnavailable, match="get_object") as raised:
        await store.get_object(f"t/{secrets.token_hex(6)}.absent")

    cause = raised.value.__cause__
    assert isinstance(cause, S3ErrorAnswer) and (cause.status, cause.code) == (404, "NoSuchKey")
    assert "NoSuchKey" not in str(raised.value)  # the store's text stays in the cause


async def test_a_wrong_secret_is_refused_not_retried(lectern_infra: Any) -> None:
    store = HttpS3ObjectStore(
        endpoint_url=lectern_infra.urls.s3_endpoint,
        bucket=BUCKET,
        access_key=lectern_infra.urls.s3_access_key,
        secret_key="not-the-secret",
    )

    with pytest.raises(ObjectStoreUnavailable, match="put_object") as raised:
        await store.put_object(f"t/{secrets.token_hex(6)}", b"x")

    assert isinstance(raised.value.__cause__, S3ErrorAnswer) and raised.value.__cause__.status == 403


async def test_an_unreachable_store_is_object_store_unavailable() -> None:
    store = HttpS3ObjectStore(
        endpoint_url=f"http://127.0.0.1:{free_port()}", bucket=BUCKET, access_key="a", secret_key="s"
    )

    with pytest.raises(ObjectStoreUnavailable, match="create_multipart_upload") as raised:
        await store.create_multipart_upload("t/unreachable")
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)
    with pytest.raises(ObjectStoreUnavailable, match="head_object"):
        await store.head_object("t/unreachable")


class FlakyStore(BaseHTTPRequestHandler):
    """Answers the first ``failures`` requests with ``status`` (or drops the connection when 0),
    then 200 with an ETag; keeps connections alive unless told to close after each answer."""

    protocol_version = "HTTP/1.1"
    plan: dict[str, Any] = {}

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.plan["requests"] += 1
        if self.plan["failures"] > 0:
            self.plan["failures"] -= 1
            if self.plan["status"] == 0:
                self.close_connection = True
                return
            self._answer(self.plan["status"], b"<Error><Code>SlowDown</Code></Error>")
            return
        self._answer(200, b"", etag='"e1"')
        self.close_connection = self.plan["close_after"]

    def _answer(self, status: int, body: bytes, etag: str | None = None) -> None:
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        if etag:
            self.send_header("etag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def flaky() -> Iterator[tuple[str, dict[str, Any]]]:
    plan: dict[str, Any] = {"requests": 0, "failures": 0, "status": 503, "close_after": False}
    handler = type("Handler", (FlakyStore,), {"plan": plan})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", plan
    server.shutdown()
    server.server_close()


def flaky_store(endpoint: str) -> HttpS3ObjectStore:
    return HttpS3ObjectStore(endpoint_url=endpoint, bucket="b", access_key="a", secret_key="s")


@pytest.mark.parametrize("status", [503, 500, 0])
async def test_5xx_and_dropped_connections_are_retried(flaky: tuple[str, dict[str, Any]], status: int) -> None:
    endpoint, plan = flaky
    plan.update(failures=2, status=status)

    part = await flaky_store(endpoint).upload_part("k", "u", 1, bytearray(b"abc"))

    assert (part.etag, part.size, plan["requests"]) == ('"e1"', 3, 3)


async def test_a_store_failing_every_attempt_is_object_store_unavailable(flaky: tuple[str, dict[str, Any]]) -> None:
    endpoint, plan = flaky
    plan.update(failures=10, status=503)

    with pytest.raises(ObjectStoreUnavailable, match="upload_part") as raised:
        await flaky_store(endpoint).upload_part("k", "u", 1, b"abc")

    assert isinstance(raised.value.__cause__, S3ErrorAnswer) and raised.value.__cause__.code == "SlowDown"
    assert plan["requests"] == 3


async def test_a_kept_alive_connection_the_server_closed_costs_no_attempt(flaky: tuple[str, dict[str, Any]]) -> None:
    endpoint, plan = flaky
    plan.update(close_after=True)
    store = HttpS3ObjectStore(endpoint_url=endpoint, bucket="b", access_key="a", secret_key="s", attempts=1)

    for number in (1, 2, 3):
        assert (await store.upload_part("k", "u", number, b"abc")).number == number

    assert plan["requests"] == 3
