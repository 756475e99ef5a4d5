"""The tus plane under faults, on the fault stack: connections cut mid-PATCH, the upload process
SIGKILLed mid-PATCH, two upload processes behind a round-robin proxy. Every check of the stored
file reads the object back from S3 and compares its sha256 with the source."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from lectern_upload.uploads.locks import lock_key

from ..gateway_client import ActionClient
from .conftest import PART_SIZE, FaultStack
from .proxies import CuttingProxy, RoundRobinProxy
from .steps import finished_upload, source_bytes, tus_send, until

pytestmark = pytest.mark.timeout(240)

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


async def start(stack: FaultStack, size: int) -> tuple[ActionClient, dict[str, Any]]:
    client = await ActionClient.login(stack.gateway, f"tus-{secrets.token_hex(3)}")
    started = await client.ok("startUpload", {"fileName": "lecture.mp4", "sizeBytes": size, "mimeType": "video/mp4"})
    return client, dict(started)


async def assert_stored_intact(stack: FaultStack, client: ActionClient, operation_id: str, payload: bytes) -> None:
    """S3 holds exactly the source, and the upload became a media file with that checksum."""
    source_sha = hashlib.sha256(payload).hexdigest()
    assert await stack.stored_sha256(f"uploads/{operation_id}") == source_sha
    upload = await finished_upload(client, operation_id)
    assert upload["status"] == "completed" and upload["mediaId"], upload
    media = await client.ok("getMedia", {"mediaId": upload["mediaId"]})
    assert media["checksum"] == f"sha256:{source_sha}" and media["sizeBytes"] == len(payload)


def via(base: str, upload_url: str) -> str:
    return f"{base}/files/{upload_url.rsplit('/', 1)[-1]}"


async def test_a_tus_client_with_retries_finishes_through_a_proxy_cutting_patches(stack: FaultStack) -> None:
    seed = secrets.randbits(32)
    print(f"seed {seed}")
    payload = source_bytes(6 * MIB + 12345, seed)
    client, started = await start(stack, len(payload))
    try:
        # Each of the first six PATCH connections is cut (RST) after a random count of the
        # client's bytes, inside its headers or anywhere in its 1 MiB body.
        cutter = CuttingProxy(
            stack.state.services["upload"].http_port, random.Random(seed), min_cut=100, max_cut=MIB - 1, cuts=6
        )
        async with cutter:
            offset = await asyncio.to_thread(
                tus_send, via(cutter.base, started["uploadUrl"]), started["uploadToken"], payload, chunk=MIB, retries=20
            )
        assert offset == len(payload)
        assert len(cutter.made) == 6 and cutter.patches > 6, (cutter.made, cutter.patches)
        await assert_stored_intact(stack, client, started["operationId"], payload)
    finally:
        await client.close()


async def _slow_body(payload: bytes, first: int, gate: asyncio.Event) -> AsyncIterator[bytes]:
    """``first`` bytes at once, then nothing until ``gate`` opens (it never does when the server
    dies first), then the rest: a PATCH that is reliably in flight when the test strikes."""
    for start in range(0, first, 256 * 1024):
        yield payload[start : min(first, start + 256 * 1024)]
    await gate.wait()
    for start in range(first, len(payload), 256 * 1024):
        yield payload[start : start + 256 * 1024]


async def test_upload_killed_mid_patch_resumes_from_head_after_the_restart(stack: FaultStack) -> None:
    payload = source_bytes(2 * PART_SIZE + 2 * MIB + 777, secrets.randbits(32))
    client, started = await start(stack, len(payload))
    operation_id = started["operationId"]
    gate = asyncio.Event()
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            patch = asyncio.create_task(
                http.patch(
                    started["uploadUrl"],
                    content=_slow_body(payload, PART_SIZE + MIB, gate),
                    headers={
                        **TUS,
                        "Authorization": f"Bearer {started['uploadToken']}",
                        "Upload-Offset": "0",
                        "Content-Type": "application/offset+octet-stream",
                        "Content-Length": str(len(payload)),
                    },
                )
            )

            async def first_part_committed() -> int | None:
                rows = await stack.sql("upload", 'SELECT "offset" FROM uploads WHERE id = $1', operation_id)
                return rows[0][0] if rows and rows[0][0] >= PART_SIZE else None

            committed = await until(first_part_committed, "the first part to be committed", 60)
            await stack.kill_and_wait_restarted("upload")
            gate.set()  # the client sends the rest into the dead connection
            with pytest.raises(httpx.HTTPError):
                await patch

        # The client resumes from HEAD: the committed part survived the SIGKILL, the rest is resent.
        async with httpx.AsyncClient() as http:
            head = await http.head(
                started["uploadUrl"], headers={**TUS, "Authorization": f"Bearer {started['uploadToken']}"}
            )
        assert head.status_code == 200
        resumed_from = int(head.headers["upload-offset"])
        assert committed <= resumed_from < len(payload)
        offset = await asyncio.to_thread(tus_send, started["uploadUrl"], started["uploadToken"], payload, chunk=2 * MIB)
        assert offset == len(payload)
        await assert_stored_intact(stack, client, operation_id, payload)
    finally:
        gate.set()
        await client.close()


async def test_patches_alternating_between_two_upload_processes_store_the_file_intact(stack: FaultStack) -> None:
    payload = source_bytes(6 * MIB + 1, secrets.randbits(32))
    client, started = await start(stack, len(payload))
    ports = [stack.state.services["upload"].http_port, stack.state.services["upload-2"].http_port]
    try:
        async with RoundRobinProxy(ports) as proxy:
            offset = await asyncio.to_thread(
                tus_send, via(proxy.base, started["uploadUrl"]), started["uploadToken"], payload, chunk=MIB
            )
        assert offset == len(payload)
        patches = [r.upstream for r in proxy.routed if r.method == "PATCH"]
        assert len(patches) == 7
        assert all(a != b for a, b in itertools.pairwise(patches)), patches  # every PATCH switched
        await assert_stored_intact(stack, client, started["operationId"], payload)
    finally:
        await client.close()


async def test_concurrent_patches_on_two_processes_never_corrupt_the_upload(stack: FaultStack) -> None:
    payload = source_bytes(6 * MIB + 99, secrets.randbits(32))
    client, started = await start(stack, len(payload))
    operation_id = started["operationId"]
    first = stack.tus_base("upload") + operation_id
    second = stack.tus_base("upload-2") + operation_id
    headers = {
        **TUS,
        "Authorization": f"Bearer {started['uploadToken']}",
        "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream",
    }
    gate = asyncio.Event()
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            # A: the real bytes to process 1, held open half way.
            writing = asyncio.create_task(
                http.patch(
                    first,
                    content=_slow_body(payload[:MIB], MIB // 2, gate),
                    headers={**headers, "Content-Length": str(MIB)},
                )
            )
            key = lock_key(operation_id) & 0xFFFFFFFFFFFFFFFF

            async def lock_held() -> bool | None:
                rows = await stack.sql(
                    "upload",
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1",
                    key >> 32,
                    key & 0xFFFFFFFF,
                )
                return True if rows else None

            await until(lock_held, "process 1 to hold the upload's lock", 30)
            # B: other bytes for the same offset, to process 2, while A writes.
            clash = await http.patch(
                second, content=bytes(64 * 1024), headers={**headers, "Content-Length": str(64 * 1024)}
            )
            assert clash.status_code == 423, clash.text
            assert clash.json()["error"]["code"] == "upload.locked"
            gate.set()
            written = await writing
        assert written.status_code == 204, written.text
        assert int(written.headers["upload-offset"]) == MIB

        # Either process carries on from there; the zeros B sent were never stored.
        offset = await asyncio.to_thread(tus_send, second, started["uploadToken"], payload, chunk=2 * MIB)
        assert offset == len(payload)
        await assert_stored_intact(stack, client, operation_id, payload)
    finally:
        gate.set()
        await client.close()
