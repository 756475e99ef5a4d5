"""Ownership on every plane, with real resources of another user: a course with a chapter and a
lesson, a really uploaded media file linked into it, and an upload with bytes sent.

Actions answer NOT_FOUND or FORBIDDEN (never the content) and change nothing; no token is
UNAUTHENTICATED; the tus plane refuses another upload's and another user's token; a WebSocket
cannot subscribe to another user's course; each service's gRPC port refuses a call without an
internal token, with a forged one, or with an expired one.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from lectern.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from lectern.course.v1 import course_pb2, course_pb2_grpc
from lectern.media.v1 import media_pb2, media_pb2_grpc
from lectern.upload.v1 import upload_pb2, upload_pb2_grpc

from ..gateway_client import ActionClient
from .shapes import Shapes
from .sockets import Socket
from .tokens import INTERNAL, forged, signed_by_stack
from .world import TUS, CourseTree, UploadedMedia, course_with_a_lesson, start_upload, tus_patch

pytestmark = pytest.mark.timeout(240)

HIDDEN = {"NOT_FOUND", "FORBIDDEN"}


def _window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"from": (now - timedelta(days=30)).isoformat(), "to": (now + timedelta(days=1)).isoformat()}


def _attacks(world: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each action aimed at the victim's resources (several shapes where an action takes several ids)."""
    tree: CourseTree = world["tree"]
    media: UploadedMedia = world["media"]
    operation = world["upload"]["operationId"]
    course, version, media_id = tree.course_id, tree.version, media.media_id
    return {
        "getCourseEdit": [{"courseId": course}, {"courseId": course, "includeDeleted": True}],
        "updateCourse": [{"courseId": course, "expectedVersion": version, "patch": {"title": "mine"}}],
        "saveCourseChanges": [
            {"courseId": course, "expectedVersion": version, "operations": [op]}
            for op in (
                {"op": "renameChapter", "chapterId": tree.chapter_id, "title": "mine"},
                {"op": "deleteLesson", "lessonId": tree.lesson_id},
                {"op": "addChapter", "title": "mine"},
            )
        ],
        "deleteCourse": [{"courseId": course}, {"courseId": course, "force": True}],
        "publishCourse": [{"courseId": course, "expectedVersion": version}],
        "unpublishCourse": [{"courseId": course, "expectedVersion": version}],
        "restoreCourse": [{"courseId": course}],
        "getMedia": [{"mediaId": media_id}],
        "updateMedia": [{"mediaId": media_id, "expectedVersion": media.media["version"], "patch": {"title": "mine"}}],
        "getMediaUsage": [{"mediaId": media_id}],
        "linkMedia": [
            {"mediaId": media_id, "resourceType": kind, "resourceId": rid}
            for kind, rid in (("course", course), ("chapter", tree.chapter_id), ("lesson", tree.lesson_id))
        ],
        "unlinkMedia": [{"mediaId": media_id, "resourceType": "lesson", "resourceId": tree.lesson_id}],
        "deleteMedia": [
            {"mediaId": media_id, "mode": "soft", "force": True},
            {"mediaId": media_id, "mode": "hard", "dryRun": True},
        ],
        "restoreMedia": [{"mediaId": media_id, "restoreLinks": True}],
        "getMediaAudit": [{"mediaId": media_id}],
        "startUpload": [
            {"fileName": "b.mp4", "sizeBytes": 1000, "mimeType": "video/mp4", "courseId": course},
            {
                "fileName": "b.mp4",
                "sizeBytes": 1000,
                "mimeType": "video/mp4",
                "courseId": course,
                "chapterId": tree.chapter_id,
            },
        ],
        "getUpload": [{"operationId": operation}],
        "cancelUpload": [{"operationId": operation}],
        "resumeUpload": [{"operationId": operation}],
        "getRealtimeToken": [{"courseIds": [course]}],
        "getAnalyticsDashboard": [{"dashboard": name, "courseId": course, **_window()} for name in ("content", "roi")],
    }


# Actions that name none of another user's ids: what they answer is checked instead, below.
LISTINGS = {"createCourse", "listMyCourses", "listMedia", "listUploads", "recordEngagement"}


async def test_another_users_resources_answer_not_found_or_forbidden_and_stay_unchanged(
    victim: ActionClient, victim_world: dict[str, Any], mallory: ActionClient, shapes: Shapes
) -> None:
    attacks = _attacks(victim_world)
    assert shapes.actions() == set(attacks) | LISTINGS, "a new action needs a line in _attacks or LISTINGS"

    leaks = {}
    for name, bodies in attacks.items():
        for body in bodies:
            envelope = (await mallory.raw(name, body)).json()
            if envelope["success"] or envelope["error"]["code"] not in HIDDEN:
                leaks[f"{name} {body}"] = envelope
    assert not leaks, leaks

    tree: CourseTree = victim_world["tree"]
    media: UploadedMedia = victim_world["media"]
    edit = await victim.ok("getCourseEdit", {"courseId": tree.course_id})
    assert edit["version"] == tree.version and edit["deletedAt"] is None
    assert edit["chapters"][0]["title"] == "Chapter one" and edit["chapters"][0]["lessons"][0]["id"] == tree.lesson_id
    usage = await victim.ok("getMediaUsage", {"mediaId": media.media_id})
    assert [(u["resourceType"], u["resourceId"]) for u in usage["links"]] == [("lesson", tree.lesson_id)]
    kept = await victim.ok("getMedia", {"mediaId": media.media_id})
    assert kept["title"] == media.media["title"] and kept["deletedAt"] is None
    upload = await victim.ok("getUpload", {"operationId": victim_world["upload"]["operationId"]})
    assert (upload["status"], upload["offset"]) == ("uploading", 500)


async def test_listings_show_nothing_of_another_user(victim_world: dict[str, Any], mallory: ActionClient) -> None:
    tree: CourseTree = victim_world["tree"]
    media: UploadedMedia = victim_world["media"]

    assert tree.course_id not in {
        c["id"] for c in (await mallory.ok("listMyCourses", {"includeDeleted": True}))["items"]
    }
    listed = await mallory.ok("listMedia", {"includeDeleted": True, "query": media.media["fileName"]})
    assert listed["items"] == []
    uploads = await mallory.ok("listUploads", {"courseId": tree.course_id})
    assert uploads["items"] == []
    assert victim_world["upload"]["operationId"] not in {
        u["operationId"] for u in (await mallory.ok("listUploads", {}))["items"]
    }
    # Engagement facts come from learners' players, who own nothing of the course: any user may
    # report one for any live course (analytics credits it to the course's owner). The answer
    # carries counts only, nothing of the course.
    at = datetime.now(UTC).isoformat()
    recorded = await mallory.ok(
        "recordEngagement", {"events": [{"type": "view", "courseId": tree.course_id, "at": at}]}
    )
    assert recorded == {"accepted": 1, "rejected": 0, "rejectedFields": {}}


async def test_another_users_media_cannot_be_put_into_ones_own_course(
    victim_world: dict[str, Any], mallory: ActionClient
) -> None:
    media: UploadedMedia = victim_world["media"]
    own = await course_with_a_lesson(mallory, "Mallory's")

    link = await mallory.raw(
        "linkMedia", {"mediaId": media.media_id, "resourceType": "lesson", "resourceId": own.lesson_id}
    )
    assert link.json()["success"] is False and link.json()["error"]["code"] in HIDDEN
    for op in (
        {"op": "setLessonMedia", "lessonId": own.lesson_id, "mediaId": media.media_id},
        {"op": "addLesson", "chapterId": own.chapter_id, "title": "stolen", "mediaId": media.media_id},
    ):
        save = await mallory.raw(
            "saveCourseChanges", {"courseId": own.course_id, "expectedVersion": own.version, "operations": [op]}
        )
        envelope = save.json()
        assert envelope["success"] is False, f"{op['op']} took another user's media: {envelope}"
        assert envelope["error"]["code"] in HIDDEN | {"VALIDATION_FAILED"}, envelope
    edit = await mallory.ok("getCourseEdit", {"courseId": own.course_id})
    assert all(lesson["media"] is None for chapter in edit["chapters"] for lesson in chapter["lessons"])


async def test_every_action_without_a_valid_user_token_is_unauthenticated(
    anonymous: ActionClient, shapes: Shapes
) -> None:
    bad_tokens: list[str | None] = [
        None,
        "not-a-jwt",
        *forged({"iss": "lectern-dev", "aud": "lectern"}, "someone").values(),
    ]

    for name in sorted(shapes.actions()):
        for token in bad_tokens:
            anonymous.token = token
            response = await anonymous.raw(name, {})
            assert response.status_code == 401, (name, token, response.text)
            assert response.json()["error"]["code"] == "UNAUTHENTICATED", (name, token)


async def test_the_tus_plane_refuses_another_uploads_and_another_users_token(
    victim: ActionClient, victim_world: dict[str, Any], mallory: ActionClient
) -> None:
    target = victim_world["upload"]
    url = target["uploadUrl"]
    # The victim's own second upload (another upload's token) and mallory's upload (another user's).
    sibling = await start_upload(victim, 1000)
    stranger = await start_upload(mallory, 1000)

    async with httpx.AsyncClient(timeout=30) as http:
        for label, token in (
            ("another upload's token", sibling["uploadToken"]),
            ("another user's token", stranger["uploadToken"]),
            (
                "a forged token",
                forged(
                    {"iss": "lectern-upload", "aud": "lectern-upload-tus"},
                    "x",
                    typ="upload",
                    upl=url.rsplit("/", 1)[-1],
                )["HS256"],
            ),
            ("no token", None),
        ):
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            head = await http.head(url, headers={**TUS, **auth})
            patch = await tus_patch(url, token, 500, b"y" * 100)
            delete = await http.delete(url, headers={**TUS, **auth})
            post = await http.post(
                url.rsplit("/", 1)[0] + "/",
                headers={**TUS, **auth, "Upload-Length": "100", "Upload-Metadata": "filename YS5tcDQ="},
            )
            for verb, response in (("HEAD", head), ("PATCH", patch), ("DELETE", delete), ("POST", post)):
                expected = {401} if token is None or label == "a forged token" else {401, 403, 404}
                assert response.status_code in expected, (label, verb, response.status_code, response.text)
            if label == "another upload's token" or label == "another user's token":
                for verb, response in (("HEAD", head), ("PATCH", patch), ("DELETE", delete), ("POST", post)):
                    assert response.status_code in {403, 404}, (label, verb, response.status_code)

    upload = await victim.ok("getUpload", {"operationId": target["operationId"]})
    assert (upload["status"], upload["offset"]) == ("uploading", 500)
    async with httpx.AsyncClient(timeout=30) as http:
        own = await http.head(url, headers={**TUS, "Authorization": f"Bearer {target['uploadToken']}"})
    assert own.status_code == 200 and own.headers["Upload-Offset"] == "500"


async def test_a_websocket_cannot_subscribe_to_another_users_course(
    victim: ActionClient, victim_world: dict[str, Any], mallory: ActionClient
) -> None:
    course_id = victim_world["tree"].course_id
    refused = await mallory.fails("getRealtimeToken", {"courseIds": [course_id]})
    assert refused["code"] in HIDDEN
    realtime = await mallory.ok("getRealtimeToken", {})
    assert course_id not in realtime["courseIds"]

    socket = await Socket.open(realtime["url"], realtime["token"])
    try:
        answer = await socket.subscribe(f"course:{course_id}")
        assert answer["type"] == "error" and answer["channel"] == f"course:{course_id}", answer
        assert (await socket.subscribe(f"user:{victim.user_id}"))["type"] == "error"
    finally:
        await socket.close()


def _grpc_probes(lectern_stack: Any) -> dict[str, tuple[str, Any, Any]]:
    """One read per service port: (target, the bound method, its request)."""
    services = lectern_stack.services

    def stub(name: str, stub_class: Any) -> Any:
        return stub_class(grpc.aio.insecure_channel(services[name].grpc_target))

    now = datetime.now(UTC)
    dashboard = analytics_pb2.GetDashboardRequest(dashboard=analytics_pb2.DASHBOARD_STORAGE)
    dashboard.__getattribute__("from").FromDatetime(now - timedelta(days=1))
    dashboard.to.FromDatetime(now)
    return {
        "course": (
            services["course"].grpc_target,
            stub("course", course_pb2_grpc.CourseServiceStub).ListMyCourses,
            course_pb2.ListMyCoursesRequest(),
        ),
        "media": (
            services["media"].grpc_target,
            stub("media", media_pb2_grpc.MediaServiceStub).ListMedia,
            media_pb2.ListMediaRequest(),
        ),
        "analytics": (
            services["analytics"].grpc_target,
            stub("analytics", analytics_pb2_grpc.AnalyticsServiceStub).GetDashboard,
            dashboard,
        ),
        "upload": (
            services["upload"].grpc_target,
            stub("upload", upload_pb2_grpc.UploadServiceStub).ListUploads,
            upload_pb2.ListUploadsRequest(),
        ),
    }


async def test_each_services_grpc_port_refuses_missing_forged_and_expired_internal_tokens(lectern_stack: Any) -> None:
    user = f"grpc-{secrets.token_hex(3)}"
    stack_secrets = lectern_stack.secrets
    bad: dict[str, tuple[tuple[str, str], ...] | None] = {
        "no token": None,
        "not a bearer": (("authorization", "Basic eA=="),),
    }
    for algorithm, token in forged(INTERNAL, user, roles=[]).items():
        bad[f"forged {algorithm}"] = (("authorization", f"Bearer {token}"),)
    expired = signed_by_stack(stack_secrets, "internal_token", INTERNAL, user, ttl=-600, roles=[])
    bad["expired"] = (("authorization", f"Bearer {expired}"),)
    good = signed_by_stack(stack_secrets, "internal_token", INTERNAL, user, ttl=300, roles=[])

    accepted: dict[str, str] = {}
    for service, (_target, method, request) in _grpc_probes(lectern_stack).items():
        for label, metadata in bad.items():
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await method(request, metadata=metadata, timeout=10)
            if refused.value.code() != grpc.StatusCode.UNAUTHENTICATED:
                accepted[f"{service} {label}"] = refused.value.code().name
        # The control: the same call with the stack's own key in date goes through.
        await method(request, metadata=(("authorization", f"Bearer {good}"),), timeout=10)
    assert not accepted, accepted


async def test_realtime_publish_needs_the_service_credential(
    victim: ActionClient, victim_world: dict[str, Any], lectern_stack: Any
) -> None:
    publish_url = lectern_stack.urls["publish"]
    channel = f"course:{victim_world['tree'].course_id}"
    message = {"type": "invalidate", "courseId": victim_world["tree"].course_id, "data": {"resources": ["videos"]}}
    realtime = await victim.ok("getRealtimeToken", {"courseIds": [victim_world["tree"].course_id]})
    socket = await Socket.open(realtime["url"], realtime["token"])
    try:
        await socket.subscribe(channel)
        async with httpx.AsyncClient(timeout=30) as http:
            for label, headers in (
                ("no credential", {}),
                ("a wrong credential", {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}),
                ("a user's token", {"Authorization": f"Bearer {victim.token}"}),
            ):
                attempt = {**message, "data": {"resources": ["videos", f"refused: {label}"]}}
                refused = await http.post(publish_url, json={"channel": channel, "message": attempt}, headers=headers)
                assert refused.status_code == 401, (label, refused.status_code, refused.text)
            token = lectern_stack.secrets["realtime_publish_token"]
            marked = {**message, "data": {"resources": ["videos", "published-by-the-test"]}}
            accepted = await http.post(
                publish_url, json={"channel": channel, "message": marked}, headers={"Authorization": f"Bearer {token}"}
            )
            assert accepted.status_code == 200, accepted.text
        await socket.wait_for(
            lambda m: "published-by-the-test" in m.get("data", {}).get("resources", []), "the control"
        )
        leaked = [
            m for m in socket.inbox if any(r.startswith("refused") for r in m.get("data", {}).get("resources", []))
        ]
        assert leaked == [], "a refused publish reached the socket"
    finally:
        await socket.close()
