"""OIDC JWT verification against a real JWKS endpoint: issuer, audience, expiry, key rotation."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from lectern_common.errors import DomainError, ErrorKind
from lectern_gateway.auth.keys import JwksKeySource
from lectern_gateway.auth.tokens import TrustedIssuer, UserTokenVerifier
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..conftest import free_port

ISSUER = "https://idp.test"


class Idp:
    """A tiny identity provider: a JWKS document we can rotate, and a signer."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []
        self.hits = 0

    def new_key(self, kid: str, publish: bool = True) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            jwk = json.loads(RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def sign(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": "lectern", "sub": "alice", "iat": now, "exp": now + 300, **claims}
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest_asyncio.fixture(loop_scope="session")
async def idp() -> AsyncIterator[tuple[Idp, str]]:
    provider = Idp()
    provider.new_key("k1")

    async def jwks(_: Any) -> JSONResponse:
        provider.hits += 1
        return JSONResponse(provider.jwks())

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=[Route("/jwks", jwks)]), port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield provider, f"http://127.0.0.1:{port}/jwks"
    finally:
        server.should_exit = True
        await task


def _verifier(url: str, http: httpx.AsyncClient, **options: Any) -> tuple[UserTokenVerifier, JwksKeySource]:
    keys = JwksKeySource(url, http, **options)
    return UserTokenVerifier([TrustedIssuer(ISSUER, "lectern", keys, ("RS256",))]), keys


async def _refused(verifier: UserTokenVerifier, token: str) -> str:
    with pytest.raises(DomainError) as raised:
        await verifier.verify(token)
    assert raised.value.kind is ErrorKind.UNAUTHENTICATED
    return raised.value.message


async def test_a_valid_token_gives_the_user_and_roles(idp: tuple[Idp, str]) -> None:
    provider, url = idp
    async with httpx.AsyncClient() as http:
        verifier, _ = _verifier(url, http)
        identity = await verifier.verify(provider.sign("k1", roles=["instructor", "service"], name="Alice"))
    assert identity.user_id == "alice"
    assert identity.roles == frozenset({"instructor"})  # no user token may claim the service role
    assert identity.name == "Alice"


async def test_wrong_audience_issuer_expiry_and_algorithm_are_refused(idp: tuple[Idp, str]) -> None:
    provider, url = idp
    async with httpx.AsyncClient() as http:
        verifier, _ = _verifier(url, http)
        await _refused(verifier, provider.sign("k1", aud="someone-else"))
        await _refused(verifier, provider.sign("k1", iss="https://evil.test"))
        assert "expired" in await _refused(verifier, provider.sign("k1", exp=int(time.time()) - 120))
        hmac = jwt.encode({"iss": ISSUER, "aud": "lectern", "sub": "alice", "exp": int(time.time()) + 60}, "x" * 32)
        await _refused(verifier, hmac)
        await _refused(verifier, provider.sign("k1", sub="system:media"))


async def test_keys_are_cached(idp: tuple[Idp, str]) -> None:
    provider, url = idp
    async with httpx.AsyncClient() as http:
        verifier, keys = _verifier(url, http)
        for _ in range(5):
            await verifier.verify(provider.sign("k1"))
    assert keys.fetches == 1


async def test_a_rotated_key_is_fetched_once_and_unknown_kids_are_rate_limited(idp: tuple[Idp, str]) -> None:
    provider, url = idp
    async with httpx.AsyncClient() as http:
        verifier, keys = _verifier(url, http, min_refetch_seconds=60)
        await verifier.verify(provider.sign("k1"))
        provider.new_key("k2")  # the issuer rotates: publishes k2, then signs with it
        identity = await verifier.verify(provider.sign("k2"))
        assert identity.user_id == "alice"
        assert keys.fetches == 2
        provider.new_key("k3", publish=False)  # a kid nobody published: one refetch at most per minute
        await asyncio.gather(*(_refused(verifier, provider.sign("k3")) for _ in range(10)))
        assert keys.fetches == 2


async def test_an_unreachable_idp_without_keys_is_unavailable() -> None:
    async with httpx.AsyncClient() as http:
        verifier, _ = _verifier(f"http://127.0.0.1:{free_port()}/jwks", http, timeout_seconds=0.5)
        idp = Idp()
        idp.new_key("k1")
        with pytest.raises(DomainError) as raised:
            await verifier.verify(idp.sign("k1"))
    assert raised.value.kind is ErrorKind.UNAVAILABLE


async def test_the_gateway_accepts_oidc_tokens(make_gateway, idp: tuple[Idp, str], scripted) -> None:  # type: ignore[no-untyped-def]
    from lectern.course.v1 import course_pb2

    provider, url = idp
    scripted.handlers["ListMyCourses"] = lambda request, identity: course_pb2.ListMyCoursesResponse()
    async with make_gateway(oidc_issuer=ISSUER, oidc_jwks_url=url, oidc_audience="lectern", dev_auth=False) as gw:
        ok = await gw.act("listMyCourses", {}, token=provider.sign("k1"))
        assert ok.status_code == 200, ok.text
        assert scripted.calls[0][2].user_id == "alice"
        assert (await gw.act("listMyCourses", {}, token=provider.sign("k1", aud="x"))).status_code == 401


async def test_a_production_gateway_has_no_dev_login_and_no_swagger_ui(  # type: ignore[no-untyped-def]
    make_gateway, idp: tuple[Idp, str], scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings a production pod gets (OIDC, its own keys, no dev switch); the unprefixed
    ``LECTERN_DEV_AUTH=1``, which once turned the dev login on anywhere, is in the environment."""
    from lectern.course.v1 import course_pb2
    from lectern_common.token_keys import SigningKey

    monkeypatch.setenv("LECTERN_DEV_AUTH", "1")
    provider, url = idp
    scripted.handlers["ListMyCourses"] = lambda request, identity: course_pb2.ListMyCoursesResponse()
    production = {
        "environment": "production",
        "oidc_issuer": ISSUER,
        "oidc_jwks_url": url,
        "oidc_audience": "lectern",
        "dev_auth": None,
        "realtime_token_private_key": SigningKey.generate().private_pem(),
    }
    async with make_gateway(**production) as gw:
        assert gw.settings.dev_login is False
        assert (await gw.http.post("/auth/dev/token", json={"userId": "admin"})).status_code == 404
        assert (await gw.http.get("/docs")).status_code == 404
        assert (await gw.act("listMyCourses", {}, token=provider.sign("k1"))).status_code == 200


async def test_a_dev_gateway_with_nothing_set_has_dev_login_and_swagger_ui(make_gateway) -> None:  # type: ignore[no-untyped-def]
    async with make_gateway(dev_auth=None) as gw:
        assert (await gw.http.post("/auth/dev/token", json={"userId": "u1"})).status_code == 200
        assert (await gw.http.get("/docs")).status_code == 200
