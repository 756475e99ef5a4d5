"""Every WebSocket message type and close code on the launched stack (realtime under uvloop, fed
by upload's progress posts and by course, media and upload events through Kafka)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lectern_common.testing.videos import video_of_size

from ..gateway_client import ActionClient
from .sockets import Message, Socket
from .tokens import REALTIME, forged, signed_by_stack
from .world import course_with_a_lesson, start_upload, tus_upload

pytestmark = pytest.mark.timeout(180)

CLOSE_UNAUTHENTICATED = 4001


@pytest_asyncio.fixture(loop_scope="session")
async def sockets() -> AsyncIterator[list[Socket]]:
    """Sockets a test opened, closed after it."""
    opened: list[Socket] = []
    yield opened
    await asyncio.gather(*(socket.close() for socket in opened), return_exceptions=True)


async def _connect(client: ActionClient, opened: list[Socket], course_ids: list[str] | None = None) -> Socket:
    body: dict[str, Any] = {} if course_ids is None else {"courseIds": course_ids}
    realtime = await client.ok("getRealtimeToken", body)
    socket = await Socket.open(realtime["url"], realtime["token"])
    opened.append(socket)
    return socket


def _about(operation_id: str, kind: str) -> Any:
    return lambda m: m.get("type") == kind and m.get("operationId") == operation_id


async def test_subscribed_tells_the_channel_its_seq_and_recovered(alice: ActionClient, sockets: list[Socket]) -> None:
    course = await alice.ok("createCourse", {"title": "Watched"})
    socket = await _connect(alice, sockets, [course["id"]])

    subscribed = await socket.subscribe(f"course:{course['id']}")

    assert subscribed["type"] == "subscribed" and subscribed["channel"] == f"course:{course['id']}"
    assert isinstance(subscribed["seq"], int) and subscribed["recovered"] is True
    assert "since" not in subscribed


async def test_upload_progress_and_complete_reach_the_users_channel(alice: ActionClient, sockets: list[Socket]) -> None:
    socket = await _connect(alice, sockets)
    user_channel = await socket.wait_for(lambda m: m.get("type") == "subscribed", "the user channel's subscribed")
    assert user_channel["channel"].startswith("user:")
    upload = await start_upload(alice, 600 * 1024)

    await asyncio.to_thread(
        tus_upload, upload["uploadUrl"], upload["uploadToken"], video_of_size(600 * 1024), 200 * 1024
    )

    complete = await socket.wait_for(_about(upload["operationId"], "upload-complete"), "upload-complete")
    assert complete["channel"] == user_channel["channel"] and complete["data"]["mediaId"]
    assert "courseId" not in complete
    progress = [m for m in socket.inbox if _about(upload["operationId"], "upload-progress")(m)]
    assert progress, "no upload-progress"
    for message in progress:
        assert message["channel"] == user_channel["channel"]
        assert set(message["data"]) >= {"progress", "bytes", "total"} and message["data"]["total"] == 600 * 1024
    assert [m["data"]["bytes"] for m in progress] == sorted(m["data"]["bytes"] for m in progress)
    assert progress[-1]["data"]["progress"] == 100
    seqs = [m["seq"] for m in socket.inbox if m.get("channel") == user_channel["channel"] and "seq" in m]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"seq must rise by one: {seqs}"


async def test_an_upload_into_a_chapter_completes_with_its_lesson_and_invalidates(
    alice: ActionClient, sockets: list[Socket]
) -> None:
    tree = await course_with_a_lesson(alice)
    socket = await _connect(alice, sockets, [tree.course_id])
    await socket.subscribe(f"course:{tree.course_id}")
    upload = await start_upload(alice, 2048, courseId=tree.course_id, chapterId=tree.chapter_id, lessonTitle="New")

    await asyncio.to_thread(tus_upload, upload["uploadUrl"], upload["uploadToken"], video_of_size(2048))

    complete = await socket.wait_for(_about(upload["operationId"], "upload-complete"), "upload-complete")
    assert complete["channel"] == f"course:{tree.course_id}" and complete["courseId"] == tree.course_id
    assert complete["data"]["mediaId"] and complete["data"]["lessonId"]
    invalidate = await socket.wait_for(
        lambda m: m.get("type") == "invalidate" and {"videos", "chapters"} <= set(m["data"]["resources"]),
        "invalidate of videos and chapters",
    )
    assert invalidate["courseId"] == tree.course_id
    edit = await alice.ok("getCourseEdit", {"courseId": tree.course_id})
    lessons = {lesson["id"]: lesson for lesson in edit["chapters"][0]["lessons"]}
    assert lessons[complete["data"]["lessonId"]]["mediaId"] == complete["data"]["mediaId"]


async def test_a_cancelled_upload_is_told_as_upload_failed(alice: ActionClient, sockets: list[Socket]) -> None:
    tree = await course_with_a_lesson(alice)
    socket = await _connect(alice, sockets, [tree.course_id])
    await socket.subscribe(f"course:{tree.course_id}")
    upload = await start_upload(alice, 4096, courseId=tree.course_id)

    await alice.ok("cancelUpload", {"operationId": upload["operationId"]})

    failed = await socket.wait_for(_about(upload["operationId"], "upload-failed"), "upload-failed")
    assert failed["channel"] == f"course:{tree.course_id}" and failed["courseId"] == tree.course_id
    assert failed["data"]["error"] and failed["data"]["status"] == "cancelled"


async def test_a_course_edit_invalidates_its_chapters(alice: ActionClient, sockets: list[Socket]) -> None:
    tree = await course_with_a_lesson(alice)
    socket = await _connect(alice, sockets, [tree.course_id])
    await socket.subscribe(f"course:{tree.course_id}")

    await alice.ok(
        "saveCourseChanges",
        {
            "courseId": tree.course_id,
            "expectedVersion": tree.version,
            "operations": [{"op": "renameChapter", "chapterId": tree.chapter_id, "title": "Renamed"}],
        },
    )

    invalidate = await socket.wait_for(
        lambda m: m.get("type") == "invalidate" and "chapters" in m["data"]["resources"], "invalidate of chapters"
    )
    assert invalidate["channel"] == f"course:{tree.course_id}" and invalidate["courseId"] == tree.course_id


async def test_since_replays_what_the_history_holds(alice: ActionClient, sockets: list[Socket]) -> None:
    tree = await course_with_a_lesson(alice)
    channel = f"course:{tree.course_id}"
    first = await _connect(alice, sockets, [tree.course_id])
    before = (await first.subscribe(channel))["seq"]
    version = tree.version
    for title in ("One", "Two"):
        saved = await alice.ok(
            "saveCourseChanges",
            {
                "courseId": tree.course_id,
                "expectedVersion": version,
                "operations": [{"op": "renameChapter", "chapterId": tree.chapter_id, "title": title}],
            },
        )
        version = saved["course"]["version"]
    await first.wait_for(lambda m: m.get("channel") == channel and m.get("seq", 0) >= before + 2, "two messages")

    second = await _connect(alice, sockets, [tree.course_id])
    subscribed = await second.subscribe(channel, since=before)

    # Each save may cause more than one message; the first socket saw every one up to the seq the
    # second was told, live, and the second must have had exactly those replayed.
    top = subscribed["seq"]
    await first.wait_for(lambda m: m.get("channel") == channel and m.get("seq") == top, f"seq {top} live")
    missed = [m for m in first.inbox if m.get("channel") == channel and before < m.get("seq", 0) <= top]
    assert subscribed["since"] == before and subscribed["recovered"] is True
    assert subscribed["replayed"] == len(missed) >= 2
    told = second.inbox.index(subscribed)
    replayed = [m for m in second.inbox[:told] if m.get("channel") == channel]
    assert replayed == missed


async def test_unsubscribe_ping_and_errors_keep_the_socket_open(
    alice: ActionClient, mallory: ActionClient, sockets: list[Socket]
) -> None:
    course = await alice.ok("createCourse", {"title": "Mine"})
    others = await mallory.ok("createCourse", {"title": "Not alice's"})
    socket = await _connect(alice, sockets, [course["id"]])
    await socket.subscribe(f"course:{course['id']}")

    forbidden = await socket.subscribe(f"course:{others['id']}")
    assert forbidden["type"] == "error" and forbidden["code"] and forbidden["message"]
    await socket.send({"type": "unsubscribe", "channel": f"course:{course['id']}"})
    unsubscribed = await socket.wait_for(lambda m: m.get("type") == "unsubscribed", "unsubscribed")
    assert unsubscribed == {"type": "unsubscribed", "channel": f"course:{course['id']}"}
    await socket.send({"type": "unsubscribe", "channel": f"course:{course['id']}"})
    await socket.send({"type": "dance"})
    await socket.connection.send("{not json")
    await socket.send({"type": "ping"})

    await socket.wait_for(lambda m: m.get("type") == "pong", "pong")
    errors: list[Message] = [m for m in socket.inbox if m.get("type") == "error"]
    assert len(errors) == 4, errors
    assert all(set(e) >= {"code", "message"} for e in errors)
    assert socket.close_code is None


@pytest.mark.parametrize("kind", ["missing", "forged", "expired"])
async def test_a_bad_token_closes_the_socket_with_4001(kind: str, alice: ActionClient, lectern_stack: Any) -> None:
    realtime = await alice.ok("getRealtimeToken", {})
    subject = "someone"
    tokens: list[str | None]
    if kind == "missing":
        tokens = [None, ""]
    elif kind == "forged":
        tokens = list(forged(REALTIME, subject, courses=[]).values())
    else:
        tokens = [signed_by_stack(lectern_stack.secrets, "realtime_token", REALTIME, subject, ttl=-600, courses=[])]

    for token in tokens:
        socket = await Socket.open(realtime["url"], token)
        try:
            code, reason = await socket.closed()
        finally:
            await socket.close()
        assert code == CLOSE_UNAUTHENTICATED, (kind, token, code, reason)
    if kind == "expired":
        assert "expired" in reason


async def test_a_token_signed_by_the_stack_opens_a_socket(alice: ActionClient, lectern_stack: Any) -> None:
    """The control for the forged and expired cases: the same claims, the real key, in date."""
    realtime = await alice.ok("getRealtimeToken", {})
    token = signed_by_stack(lectern_stack.secrets, "realtime_token", REALTIME, "someone", ttl=300, courses=[])

    socket = await Socket.open(realtime["url"], token)
    try:
        await socket.send({"type": "ping"})
        await socket.wait_for(lambda m: m.get("type") == "pong", "pong")
    finally:
        await socket.close()


async def test_an_open_socket_whose_token_expires_is_closed_with_4001(alice: ActionClient, lectern_stack: Any) -> None:
    realtime = await alice.ok("getRealtimeToken", {})
    token = signed_by_stack(lectern_stack.secrets, "realtime_token", REALTIME, "short-lived", ttl=2, courses=[])

    socket = await Socket.open(realtime["url"], token)
    try:
        await socket.send({"type": "ping"})
        await socket.wait_for(lambda m: m.get("type") == "pong", "pong while the token is valid")
        code, _reason = await socket.closed(timeout=60)
    finally:
        await socket.close()
    assert code == CLOSE_UNAUTHENTICATED


async def test_every_open_tab_gets_the_same_messages(alice: ActionClient, sockets: list[Socket]) -> None:
    tree = await course_with_a_lesson(alice)
    channel = f"course:{tree.course_id}"
    tabs = [await _connect(alice, sockets, [tree.course_id]) for _ in range(2)]
    # The course's creation events reach realtime through Kafka and may land between the two
    # subscribes; from the later subscribe's seq on, both tabs must see the very same messages.
    both_subscribed = max([(await tab.subscribe(channel))["seq"] for tab in tabs])

    await alice.ok(
        "saveCourseChanges",
        {
            "courseId": tree.course_id,
            "expectedVersion": tree.version,
            "operations": [{"op": "renameLesson", "lessonId": tree.lesson_id, "title": "Seen twice"}],
        },
    )

    seen = [
        await tab.wait_for(
            lambda m: (
                m.get("channel") == channel and m.get("type") == "invalidate" and m.get("seq", 0) > both_subscribed
            ),
            "an invalidate published after both tabs subscribed",
        )
        for tab in tabs
    ]
    assert seen[0] == seen[1]
