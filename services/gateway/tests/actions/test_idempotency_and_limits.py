"""Idempotency-Key replay and conflicts, and per-user rate limits, on real Redis."""

from __future__ import annotations

import asyncio
import uuid

from lectern.course.v1 import course_pb2
from lectern_common.errors import DomainError, ErrorKind

from ..conftest import RunningGateway, Scripted
from ..factories import course


def _create(scripted: Scripted) -> None:
    scripted.handlers["CreateCourse"] = lambda request, identity: course_pb2.CreateCourseResponse(
        course=course(course_id=f"c-{len(scripted.calls)}", owner=identity.user_id, title=request.title)
    )


async def test_a_repeat_with_the_same_key_and_body_replays_the_first_answer(
    gw: RunningGateway, scripted: Scripted
) -> None:
    _create(scripted)
    token = await gw.token("idem-user")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await gw.act("createCourse", {"title": "Intro"}, token=token, headers=key)
    second = await gw.act("createCourse", {"title": "Intro"}, token=token, headers=key)
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(scripted.calls_to("CreateCourse")) == 1


async def test_concurrent_repeats_run_once(gw: RunningGateway, scripted: Scripted) -> None:
    async def slow(request: course_pb2.CreateCourseRequest, identity: object) -> course_pb2.CreateCourseResponse:
        await asyncio.sleep(0.3)
        return course_pb2.CreateCourseResponse(course=course(title=request.title))

    scripted.handlers["CreateCourse"] = slow
    token = await gw.token("idem-racer")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    answers = await asyncio.gather(
        *(gw.act("createCourse", {"title": "Race"}, token=token, headers=key) for _ in range(4))
    )
    assert {a.status_code for a in answers} == {200}
    assert len(scripted.calls_to("CreateCourse")) == 1


async def test_the_same_key_with_another_body_is_a_conflict(gw: RunningGateway, scripted: Scripted) -> None:
    _create(scripted)
    token = await gw.token("idem-user-2")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    await gw.act("createCourse", {"title": "Intro"}, token=token, headers=key)
    response = await gw.act("createCourse", {"title": "Other"}, token=token, headers=key)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert response.json()["error"]["reason"] == "idempotency.key_reused"


async def test_keys_belong_to_one_user(gw: RunningGateway, scripted: Scripted) -> None:
    _create(scripted)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    await gw.act("createCourse", {"title": "Intro"}, token=await gw.token("owner-a"), headers=key)
    other = await gw.act("createCourse", {"title": "Intro"}, token=await gw.token("owner-b"), headers=key)
    assert other.status_code == 200
    assert "Idempotent-Replayed" not in other.headers
    assert len(scripted.calls_to("CreateCourse")) == 2


async def test_a_retryable_failure_frees_the_key(gw: RunningGateway, scripted: Scripted) -> None:
    def down(request: object, identity: object) -> None:
        raise DomainError("course.down", "try later", ErrorKind.UNAVAILABLE)

    scripted.handlers["CreateCourse"] = down
    token = await gw.token("idem-retry")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert (await gw.act("createCourse", {"title": "x"}, token=token, headers=key)).status_code == 503
    _create(scripted)
    retry = await gw.act("createCourse", {"title": "x"}, token=token, headers=key)
    assert retry.status_code == 200
    assert "Idempotent-Replayed" not in retry.headers


async def test_the_service_gets_one_key_per_client_key(gw: RunningGateway, scripted: Scripted) -> None:
    _create(scripted)
    token = await gw.token("idem-forward")
    key = str(uuid.uuid4())
    await gw.act("createCourse", {"title": "x"}, token=token, headers={"Idempotency-Key": key})
    await gw.act("createCourse", {"title": "y"}, token=token)
    await gw.act("createCourse", {"title": "y"}, token=token)
    keys = [request.idempotency_key for request in scripted.calls_to("CreateCourse")]
    assert len(set(keys)) == 3 and all(keys)


async def test_an_invalid_key_is_refused(gw: RunningGateway, scripted: Scripted) -> None:
    response = await gw.act("createCourse", {"title": "x"}, token=await gw.token(), headers={"Idempotency-Key": "a b"})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["error"]["fields"]


async def test_rate_limits_answer_retry_after(make_gateway, scripted: Scripted) -> None:  # type: ignore[no-untyped-def]
    scripted.handlers["ListMyCourses"] = lambda request, identity: course_pb2.ListMyCoursesResponse()
    async with make_gateway(rate_limit_per_minute=60, rate_limit_burst=3) as gw:
        token = await gw.token("limited")
        statuses = [(await gw.act("listMyCourses", {}, token=token)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = await gw.act("listMyCourses", {}, token=token)
        error = limited.json()["error"]
        assert error["code"] == "RATE_LIMITED"
        assert 0 < error["details"]["retryAfterSeconds"] <= 1.0
        assert limited.headers["Retry-After"] == "1"
        # Another user has a bucket of their own.
        assert (await gw.act("listMyCourses", {}, token=await gw.token("someone-else"))).status_code == 200
        await asyncio.sleep(1.05)
        assert (await gw.act("listMyCourses", {}, token=token)).status_code == 200


async def test_mutations_have_a_stricter_bucket(make_gateway, scripted: Scripted) -> None:  # type: ignore[no-untyped-def]
    _create(scripted)
    scripted.handlers["ListMyCourses"] = lambda request, identity: course_pb2.ListMyCoursesResponse()
    async with make_gateway(rate_limit_mutations_per_minute=6, rate_limit_mutations_burst=2) as gw:
        token = await gw.token("writer")
        statuses = [(await gw.act("createCourse", {"title": "x"}, token=token)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert (await gw.act("listMyCourses", {}, token=token)).status_code == 200


async def test_user_ids_and_keys_with_colons_never_share_a_stored_answer(
    gw: RunningGateway, scripted: Scripted
) -> None:
    """``idem:<user>:<key>`` once made user ``x:b`` + key ``c`` the same entry as user ``x`` + key
    ``b:c``: the second user got the first one's answer replayed."""
    _create(scripted)
    base = f"colon-{uuid.uuid4().hex[:8]}"
    first = await gw.act(
        "createCourse", {"title": "Mine"}, token=await gw.token(f"{base}:b"), headers={"Idempotency-Key": "c"}
    )
    second = await gw.act(
        "createCourse", {"title": "Mine"}, token=await gw.token(base), headers={"Idempotency-Key": "b:c"}
    )
    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["data"]["ownerId"] == base


async def test_a_client_address_is_limited_before_its_token_is_even_verified(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """Issue 12 item 6: bad tokens (each a signature check, an unknown kid a JWKS fetch) were
    verified however fast they came; the per-address bucket refuses them first."""
    async with make_gateway(rate_limit_per_client_per_minute=60, rate_limit_per_client_burst=3) as gw:
        statuses = [(await gw.act("listMyCourses", {}, token="not-a-token")).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        limited = await gw.act("listMyCourses", {}, token="not-a-token")
        assert limited.json()["error"]["details"]["scope"] == "client"
        assert int(limited.headers["Retry-After"]) >= 1


async def test_the_dev_token_route_is_rate_limited_per_address(make_gateway) -> None:  # type: ignore[no-untyped-def]
    async with make_gateway(dev_token_per_minute=60, dev_token_burst=2) as gw:
        answers = [await gw.http.post("/auth/dev/token", json={"userId": f"u{i}"}) for i in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[-1].json()["error"]["code"] == "RATE_LIMITED"
        assert int(answers[-1].headers["Retry-After"]) >= 1


def test_the_client_address_counts_only_trusted_forwarding_hops() -> None:
    from lectern_gateway.transport.actions_endpoint import client_address

    peer = "10.0.0.9"
    assert client_address(peer, "6.6.6.6, 203.0.113.7", 0) == "10.0.0.9"
    assert client_address(peer, "6.6.6.6, 203.0.113.7", 1) == "203.0.113.7"  # the spoofed entry is ignored
    assert client_address(peer, None, 1) == "10.0.0.9"
