"""``POST /v1/publish``: the HTTP bridge services use; bad input is refused whole and loses nothing."""

from __future__ import annotations

import asyncio

import pytest


async def test_publish_needs_the_service_credential(start_replica, client, unique):
    a = await start_replica()
    response = await client.publish(a, f"user:{unique('u')}", client.progress("op", 1), token="guess")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "realtime.unauthenticated"
    no_header = await client.http.post(a.publish_url, json={"channel": "user:x", "message": client.progress("o", 1)})
    assert no_header.status_code == 401


@pytest.mark.parametrize(
    ("channel", "message", "status", "code", "field"),
    [
        (
            "lobby",
            {"type": "upload-progress", "operationId": "o", "data": {"progress": 1}},
            422,
            "realtime.invalid_channel",
            "channel",
        ),
        (
            "user:a\nb",
            {"type": "upload-progress", "operationId": "o", "data": {"progress": 1}},
            422,
            "realtime.invalid_channel",
            "channel",
        ),
        ("user:u", {"type": "subscribed"}, 422, "realtime.invalid_message", "type"),
        (
            "user:u",
            {"type": "upload-progress", "data": {"progress": 1}},
            422,
            "realtime.invalid_message",
            "operationId",
        ),
        (
            "user:u",
            {"type": "upload-progress", "operationId": "o", "data": {"progress": 101}},
            422,
            "realtime.invalid_message",
            "data.progress",
        ),
        ("user:u", {"type": "upload-complete", "data": {}}, 422, "realtime.invalid_message", "data.mediaId"),
        ("user:u", {"type": "upload-failed", "data": {"error": ""}}, 422, "realtime.invalid_message", "data.error"),
        (
            "user:u",
            {"type": "invalidate", "data": {"resources": []}},
            422,
            "realtime.invalid_message",
            "data.resources",
        ),
        (
            "course:c1",
            {"type": "invalidate", "courseId": "c2", "data": {"resources": ["videos"]}},
            422,
            "realtime.invalid_message",
            "courseId",
        ),
        (
            "user:u",
            {"type": "invalidate", "seq": 9, "data": {"resources": ["videos"]}},
            422,
            "realtime.invalid_message",
            "message",
        ),
        ("user:u", "hello", 422, "realtime.invalid_message", "message"),
    ],
)
async def test_invalid_publishes_answer_a_structured_error(
    start_replica, client, channel, message, status, code, field
):
    a = await start_replica()
    response = await client.publish(a, channel, message)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert field in body["error"]["fields"]


async def test_a_message_over_4_kib_is_refused_and_nothing_is_lost(start_replica, client, unique):
    a = await start_replica()
    user = unique("u")
    async with client.socket(a, client.token(user)) as ws:
        big = {"type": "upload-failed", "operationId": "op", "data": {"error": "x" * 4100}}
        response = await client.publish(a, f"user:{user}", big)
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "realtime.message_too_large"
        assert error["kind"] == "PAYLOAD_TOO_LARGE"
        assert error["details"]["limitBytes"] == 4096 and error["details"]["sizeBytes"] > 4096
        huge = await client.http.post(
            a.publish_url, content=b"{" + b" " * 70_000 + b"}", headers={"Authorization": "Bearer test-publish-token"}
        )
        assert huge.status_code == 413
        # the refused messages took no seq and reached nobody: the next one is seq 1
        ok = await client.publish(
            a, f"user:{user}", {"type": "upload-failed", "operationId": "op", "data": {"error": "e"}}
        )
        assert ok.json()["data"]["seq"] == 1
        assert (await client.recv_json(ws))["seq"] == 1


async def test_a_body_that_is_not_json_is_refused(start_replica, client):
    a = await start_replica()
    response = await client.http.post(
        a.publish_url, content=b"nope", headers={"Authorization": "Bearer test-publish-token"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"body": "body must be JSON"}


async def test_health_and_readiness(start_replica, client):
    a = await start_replica()
    assert (await client.http.get(f"http://127.0.0.1:{a.port}/healthz")).status_code == 200
    ready = await client.http.get(f"http://127.0.0.1:{a.port}/readyz")
    assert ready.status_code == 200, ready.text


async def test_connections_counts_open_sockets_per_user_behind_the_service_credential(start_replica, client, unique):
    a = await start_replica()
    url = f"http://127.0.0.1:{a.realtime.settings.publish_port}/v1/connections"
    refused = await client.http.get(url, params={"userId": "x"}, headers={"Authorization": "Bearer guess"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "realtime.unauthenticated"

    alice, bob = unique("alice"), unique("bob")
    headers = {"Authorization": "Bearer test-publish-token"}
    async with client.socket(a, client.token(alice)), client.socket(a, client.token(alice)):
        async with client.socket(a, client.token(bob)):
            counted = (await client.http.get(url, params={"userId": alice}, headers=headers)).json()["data"]
            assert counted["userConnections"] == 2
            assert counted["connections"] >= 3
    # Closed sockets leave the hub once the server has seen the close.
    for _ in range(50):
        after = (await client.http.get(url, params={"userId": alice}, headers=headers)).json()["data"]
        if after["userConnections"] == 0:
            break
        await asyncio.sleep(0.1)
    assert after["userConnections"] == 0


async def test_publish_listens_only_on_the_internal_port(start_replica, client, unique):
    """Issue 12 item 6: POST /v1/publish once shared the public WebSocket port."""
    a = await start_replica()
    public = f"http://127.0.0.1:{a.port}/v1/publish"
    response = await client.http.post(
        public,
        json={"channel": f"user:{unique('u')}", "message": client.progress("op", 1)},
        headers={"Authorization": "Bearer test-publish-token"},
    )
    assert response.status_code == 404
    assert (await client.publish(a, f"user:{unique('u')}", client.progress("op", 1))).status_code == 200
    assert (await client.http.get(f"http://127.0.0.1:{a.port}/readyz")).status_code == 200
