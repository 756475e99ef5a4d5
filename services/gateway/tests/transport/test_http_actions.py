"""The action door: envelope, validation paths, auth, error mapping, limits, OpenAPI."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from lectern.course.v1 import course_pb2
from lectern_common.errors import DomainError, ErrorKind

from ..conftest import BareStatus, RunningGateway, Scripted
from ..factories import course, course_edit


async def test_unknown_action_is_not_found_in_the_envelope(gw: RunningGateway) -> None:
    response = await gw.act("launchRockets", {}, token=await gw.token())
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_every_action_without_a_token_is_unauthenticated(gw: RunningGateway) -> None:
    for name in gw.gateway.dispatcher.registry.names():
        response = await gw.act(name, {})
        assert response.status_code == 401, name
        assert response.json() == {
            "success": False,
            "error": {
                "code": "UNAUTHENTICATED",
                "message": "a valid bearer token is required",
                "reason": "auth.unauthenticated",
            },
        }


async def test_a_forged_token_is_unauthenticated(gw: RunningGateway) -> None:
    token = await gw.token()
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    response = await gw.act("listMyCourses", {}, token=forged)
    assert response.status_code == 401
    response = await gw.act("listMyCourses", {}, token="not-a-jwt")
    assert response.status_code == 401


async def test_malformed_json_is_a_clear_400(gw: RunningGateway) -> None:
    token = await gw.token()
    response = await gw.http.post(
        "/actions/createCourse",
        content=b'{"title": "x",',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert "not valid JSON" in error["message"]
    response = await gw.act("createCourse", [1, 2], token=token)
    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]["message"]


async def test_unknown_fields_are_refused_by_path(gw: RunningGateway) -> None:
    response = await gw.act("createCourse", {"title": "Intro", "colour": "red"}, token=await gw.token())
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"colour": "is not a known field"}


async def test_field_errors_are_keyed_by_input_path(gw: RunningGateway) -> None:
    body = {
        "courseId": "c1",
        "expectedVersion": 3,
        "operations": [
            {"op": "addChapter", "tempId": "t1", "title": "One"},
            {"op": "addLesson", "chapterId": "t1", "title": "Welcome"},
            {"op": "renameChapter", "chapterId": "ch1", "title": "   "},
            {"op": "moveLesson", "lessonId": "l1", "chapterId": "ch1", "position": "2"},
            {"op": "teleport"},
        ],
    }
    response = await gw.act("saveCourseChanges", body, token=await gw.token())
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"operations.2.title", "operations.3.position", "operations.4"}
    assert "at least 1 character" in fields["operations.2.title"]


async def test_a_json_string_is_not_a_number(gw: RunningGateway) -> None:
    response = await gw.act(
        "updateCourse", {"courseId": "c1", "expectedVersion": "3", "patch": {"title": "x"}}, token=await gw.token()
    )
    assert response.json()["error"]["fields"] == {"expectedVersion": "Input should be a valid integer"}


async def test_create_course_calls_course_as_the_user_and_answers_camel_case(
    gw: RunningGateway, scripted: Scripted
) -> None:
    scripted.handlers["CreateCourse"] = lambda request, identity: course_pb2.CreateCourseResponse(
        course=course(owner=identity.user_id, title=request.title)
    )
    response = await gw.act("createCourse", {"title": "  Intro to Rust  "}, token=await gw.token("alice"))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["title"] == "Intro to Rust"
    assert body["data"]["ownerId"] == "alice"
    assert body["data"]["deletedAt"] is None
    assert body["data"]["createdAt"] == "2026-11-28T10:00:00Z"
    [(_, request, identity)] = scripted.calls
    assert identity is not None and identity.user_id == "alice"
    assert request.idempotency_key  # every write carries a key, so its retry is safe


async def test_course_edit_is_ordered_and_shows_lesson_media(gw: RunningGateway, scripted: Scripted) -> None:
    scripted.handlers["GetCourseEdit"] = lambda request, identity: course_pb2.GetCourseEditResponse(
        course=course_edit(request.course_id)
    )
    response = await gw.act("getCourseEdit", {"courseId": "c1"}, token=await gw.token())
    data = response.json()["data"]
    assert [chapter["id"] for chapter in data["chapters"]] == ["ch1", "ch2"]
    assert data["chapters"][0]["lessons"][0]["media"] == {
        "id": "m1",
        "fileName": "a.mp4",
        "status": "ready",
        "durationSeconds": None,
        "sizeBytes": 10,
    }


async def test_a_version_conflict_carries_the_current_state(gw: RunningGateway, scripted: Scripted) -> None:
    def conflict(request: course_pb2.SaveCourseChangesRequest, identity: object) -> None:
        raise DomainError.conflict(
            "course.version_conflict", "the course changed", {"currentVersion": 7, "current": {"id": "c1"}}
        )

    scripted.handlers["SaveCourseChanges"] = conflict
    body = {"courseId": "c1", "expectedVersion": 3, "operations": [{"op": "deleteChapter", "chapterId": "ch1"}]}
    response = await gw.act("saveCourseChanges", body, token=await gw.token())
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "CONFLICT"
    assert error["reason"] == "course.version_conflict"
    assert error["details"] == {"currentVersion": 7, "current": {"id": "c1"}}


@pytest.mark.parametrize(
    ("status", "code", "http"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED", 422),
        (grpc.StatusCode.NOT_FOUND, "NOT_FOUND", 404),
        (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN", 403),
        (grpc.StatusCode.ABORTED, "CONFLICT", 409),
        (grpc.StatusCode.ALREADY_EXISTS, "CONFLICT", 409),
        (grpc.StatusCode.FAILED_PRECONDITION, "CONFLICT", 409),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", 429),
        (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", 401),
        (grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE", 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "UNAVAILABLE", 503),
        (grpc.StatusCode.INTERNAL, "INTERNAL", 500),
        (grpc.StatusCode.UNKNOWN, "INTERNAL", 500),
        (grpc.StatusCode.UNIMPLEMENTED, "INTERNAL", 500),
        (grpc.StatusCode.DATA_LOSS, "INTERNAL", 500),
    ],
)
async def test_every_bare_grpc_status_maps_to_an_action_error(
    gw: RunningGateway, scripted: Scripted, status: grpc.StatusCode, code: str, http: int
) -> None:
    def fail(request: object, identity: object) -> None:
        raise BareStatus(status)

    scripted.handlers["GetCourseEdit"] = fail
    response = await gw.act("getCourseEdit", {"courseId": "c1"}, token=await gw.token())
    assert response.status_code == http
    error = response.json()["error"]
    assert error["code"] == code
    if code == "INTERNAL":
        assert error["message"] == "internal error"


async def test_every_domain_error_kind_keeps_its_code(gw: RunningGateway, scripted: Scripted) -> None:
    token = await gw.token()
    for kind in ErrorKind:
        if kind is ErrorKind.INTERNAL:
            continue

        def fail(request: object, identity: object, kind: ErrorKind = kind) -> None:
            raise DomainError(f"course.{kind.value.lower()}", "nope", kind, details={"k": 1})

        scripted.handlers["GetCourseEdit"] = fail
        response = await gw.act("getCourseEdit", {"courseId": "c1"}, token=token)
        assert response.json()["error"]["code"] == kind.value
        if kind is not ErrorKind.UNAVAILABLE:  # the client re-raises UNAVAILABLE as its own retryable error
            assert response.json()["error"]["details"] == {"k": 1}


async def test_analytics_that_does_not_exist_answers_unavailable_quickly(gw: RunningGateway) -> None:
    token = await gw.token()
    started = time.perf_counter()
    response = await gw.act(
        "getAnalyticsDashboard",
        {"dashboard": "storage", "from": "2026-11-01T00:00:00Z", "to": "2026-11-28T00:00:00+01:00"},
        token=token,
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "UNAVAILABLE"
    assert elapsed < 2.0
    started = time.perf_counter()
    response = await gw.act(
        "recordEngagement",
        {"events": [{"type": "play", "courseId": "c1", "at": "2026-11-28T10:00:00Z"}]},
        token=token,
    )
    assert response.json()["error"]["code"] == "UNAVAILABLE"
    assert time.perf_counter() - started < 2.0


async def test_a_hanging_service_is_cut_at_the_deadline(make_gateway, scripted: Scripted) -> None:  # type: ignore[no-untyped-def]
    async def hang(request: object, identity: object) -> None:
        await asyncio.sleep(5)

    scripted.handlers["GetCourseEdit"] = hang
    async with make_gateway(grpc_timeout_seconds=0.3, grpc_read_attempts=1) as gw:
        started = time.perf_counter()
        response = await gw.act("getCourseEdit", {"courseId": "c1"}, token=await gw.token())
        assert response.json()["error"]["code"] == "UNAVAILABLE"
        assert time.perf_counter() - started < 1.5


async def test_a_wrong_content_type_and_a_huge_body_are_refused(make_gateway) -> None:  # type: ignore[no-untyped-def]
    async with make_gateway(max_body_bytes=1000) as gw:
        token = await gw.token()
        response = await gw.http.post(
            "/actions/createCourse",
            content=b"title=x",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 415
        assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        response = await gw.act("createCourse", {"title": "x" * 2000}, token=token)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_the_dev_token_endpoint_exists_only_in_dev_mode(make_gateway) -> None:  # type: ignore[no-untyped-def]
    async with make_gateway(dev_auth=False) as gw:
        response = await gw.http.post("/auth/dev/token", json={"userId": "u1"})
        assert response.status_code == 404
        assert "/auth/dev/token" not in (await gw.http.get("/openapi.json")).json()["paths"]


async def test_probes(gw: RunningGateway) -> None:
    assert (await gw.http.get("/healthz")).json() == {"status": "ok"}
    ready = await gw.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["redis"] == "ok"


async def test_openapi_documents_every_action_and_the_envelope(gw: RunningGateway) -> None:
    document = (await gw.http.get("/openapi.json")).json()
    for name in gw.gateway.dispatcher.registry.names():
        operation = document["paths"][f"/actions/{name}"]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].startswith("#/components/")
        success = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert success["required"] == ["success", "data"]
        assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorEnvelope"
        }
    edit = document["components"]["schemas"]["CourseEdit"]
    assert {"id", "title", "version", "updatedAt", "deletedAt", "chapters"} <= set(edit["required"])


async def test_cors_preflight_is_answered_for_allowed_origins_only(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """A browser preflight once got 405 from every origin (issue 12 item 7)."""
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with make_gateway(cors_allowed_origins="https://editor.example, http://127.0.0.1:5173") as gw:
        allowed = await gw.http.options(
            "/actions/createCourse", headers={**preflight, "Origin": "https://editor.example"}
        )
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == "https://editor.example"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        refused = await gw.http.options(
            "/actions/createCourse", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in refused.headers
        token = await gw.token("cors-user")
        simple = await gw.http.post(
            "/actions/listMyCourses",
            json={},
            headers={"Authorization": f"Bearer {token}", "Origin": "https://evil.example"},
        )
        assert "access-control-allow-origin" not in simple.headers


async def test_dev_allows_the_editor_origin_and_production_none(make_gateway) -> None:  # type: ignore[no-untyped-def]
    from lectern_common.settings import EDITOR_DEV_ORIGINS
    from lectern_gateway.settings import GatewaySettings

    async with make_gateway() as gw:
        assert gw.settings.allowed_origins == EDITOR_DEV_ORIGINS
        answer = await gw.http.options(
            "/actions/createCourse",
            headers={"Origin": EDITOR_DEV_ORIGINS[0], "Access-Control-Request-Method": "POST"},
        )
        assert answer.headers["access-control-allow-origin"] == EDITOR_DEV_ORIGINS[0]
    production = GatewaySettings.model_construct(environment="production", cors_allowed_origins=None)
    assert production.allowed_origins == ()
