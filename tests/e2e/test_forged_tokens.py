"""Issue 12 items 1 and 3 on the launched stack: no committed secret or dev key opens anything,
and the services that face the internet hold no key that mints tokens others trust."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import grpc
import httpx
import pytest
import websockets
from lectern.course.v1 import course_pb2, course_pb2_grpc
from lectern_common.identity import AUDIENCE, ISSUER, Identity, InternalTokenIssuer
from lectern_common.realtime_tokens import RealtimeTokenIssuer
from lectern_common.settings import DEV_INTERNAL_PRIVATE_KEY, DEV_REALTIME_PRIVATE_KEY
from lectern_common.token_keys import SigningKey

pytestmark = pytest.mark.timeout(120)

# The secret every upload pod had before issue 12 (committed in the settings' defaults).
COMMITTED_UPLOAD_SECRET = "dev-upload-token-secret-change-me-0123456789"
TUS = {"Tus-Resumable": "1.0.0"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], secret: bytes, **header: str) -> str:
    signing_input = (
        f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', **header}).encode())}.{_b64(json.dumps(claims).encode())}"
    )
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


async def _create_course(stack: Any, token: str) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(stack.services["course"].grpc_target) as channel:
        try:
            await course_pb2_grpc.CourseServiceStub(channel).CreateCourse(
                course_pb2.CreateCourseRequest(title="forged"),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


async def test_a_creation_token_signed_with_the_committed_secret_is_refused(lectern_stack: Any) -> None:
    now = int(time.time())
    claims = {
        "iss": "lectern-upload",
        "aud": "lectern-upload-tus",
        "typ": "create",
        "sub": "victim",
        "jti": "forged",
        "iat": now,
        "exp": now + 600,
    }
    forged = _hs256(claims, COMMITTED_UPLOAD_SECRET.encode())
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            lectern_stack.urls["tus"],
            headers={**TUS, "Authorization": f"Bearer {forged}", "Upload-Length": "10"},
        )
    assert response.status_code == 401, response.text


async def test_course_trusts_only_the_stacks_internal_key(lectern_stack: Any) -> None:
    dev_signed = InternalTokenIssuer(SigningKey.from_pem(DEV_INTERNAL_PRIVATE_KEY)).issue(Identity("intruder"))
    public_pem = lectern_stack.secrets["internal_token_public_keys"]
    now = int(time.time())
    confused = _hs256(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "intruder", "iat": now, "exp": now + 60},
        public_pem.encode(),
        kid=SigningKey.from_pem(lectern_stack.secrets["internal_token_private_key"]).kid,
    )
    genuine = InternalTokenIssuer(SigningKey.from_pem(lectern_stack.secrets["internal_token_private_key"])).issue(
        Identity("owner-of-the-stack-key")
    )

    assert await _create_course(lectern_stack, dev_signed) == grpc.StatusCode.UNAUTHENTICATED
    assert await _create_course(lectern_stack, confused) == grpc.StatusCode.UNAUTHENTICATED
    assert await _create_course(lectern_stack, genuine) == grpc.StatusCode.OK


async def test_realtime_refuses_a_token_signed_with_the_dev_key(lectern_stack: Any) -> None:
    token = RealtimeTokenIssuer(SigningKey.from_pem(DEV_REALTIME_PRIVATE_KEY)).issue("intruder").token
    realtime_ws = lectern_stack.services["gateway"].env["LECTERN_GATEWAY_REALTIME_PUBLIC_URL"]
    async with websockets.connect(f"{realtime_ws}?token={token}", open_timeout=10) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


def test_internet_facing_services_hold_no_signing_key(lectern_stack: Any) -> None:
    for name in ("upload", "realtime"):
        env = lectern_stack.services[name].env
        assert not [key for key in env if key.endswith("_PRIVATE_KEY")], name
    assert "LECTERN_UPLOAD_UPLOAD_TOKEN_SECRET" in lectern_stack.services["upload"].env
    assert "LECTERN_GATEWAY_UPLOAD_TOKEN_SECRET" not in lectern_stack.services["gateway"].env
