"""The served stack answers actions in front of FastAPI exactly as the FastAPI app alone does."""

from __future__ import annotations

import httpx
from lectern.course.v1 import course_pb2

from ..conftest import RunningGateway, Scripted
from ..factories import course_edit


async def _both(gw: RunningGateway, method: str, path: str, **kwargs: object) -> tuple[httpx.Response, httpx.Response]:
    """The same request to the served stack (over HTTP) and to the FastAPI app alone (in process)."""
    served = await gw.http.request(method, path, **kwargs)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=gw.gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as alone:
        inner = await alone.request(method, path, **kwargs)  # type: ignore[arg-type]
    return served, inner


def _without_timing(response: httpx.Response) -> dict[str, str]:
    # CORS (``vary: Origin``) wraps the served stack, not the app alone: compared by the CORS tests.
    return {k: v for k, v in response.headers.items() if k not in {"server-timing", "date", "server", "vary"}}


async def test_an_action_and_its_refusals_are_answered_alike_in_front_and_behind(
    gw: RunningGateway, scripted: Scripted
) -> None:
    scripted.handlers["GetCourseEdit"] = lambda request, identity: course_pb2.GetCourseEditResponse(
        course=course_edit(request.course_id)
    )
    auth = {"Authorization": f"Bearer {await gw.token()}"}
    cases: list[tuple[str, str, dict[str, object]]] = [
        ("POST", "/actions/getCourseEdit", {"json": {"courseId": "c1"}, "headers": auth}),
        ("POST", "/actions/getCourseEdit", {"json": {"courseId": 1}, "headers": auth}),  # field error
        ("POST", "/actions/getCourseEdit", {"content": b"{", "headers": auth}),  # malformed
        ("POST", "/actions/getCourseEdit", {"content": b"x", "headers": {**auth, "Content-Type": "text/plain"}}),
        ("POST", "/actions/getCourseEdit", {"json": {"courseId": "c1"}}),  # no token
        ("POST", "/actions/launchRockets", {"json": {}, "headers": auth}),  # unknown action
        ("GET", "/actions/getCourseEdit", {}),  # another method: FastAPI's 405 in the envelope
        ("POST", "/actions/", {"json": {}}),  # no name: no such route
        ("POST", "/actions/a/b", {"json": {}}),
    ]
    for method, path, kwargs in cases:
        served, inner = await _both(gw, method, path, **kwargs)
        assert (served.status_code, served.json()) == (inner.status_code, inner.json()), (method, path, kwargs)
        assert _without_timing(served) == _without_timing(inner), (method, path)
        if path.startswith("/actions/getCourseEdit") and method == "POST":
            assert "total;dur=" in served.headers["server-timing"]
    ok, _ = await _both(gw, *cases[0][:2], **cases[0][2])
    assert ok.json()["data"]["chapters"][0]["id"] == "ch1"
    assert ok.headers["content-type"] == "application/json"
