"""Who gets in, in which order: the client's bucket, the action, the token, the user's buckets."""

from __future__ import annotations

import time
from typing import Any

import jwt
from lectern_common.errors import ErrorKind
from lectern_common.identity import Identity
from lectern_common.rate_limits import Bucket, Decision
from lectern_gateway import errors
from lectern_gateway.actions.dispatch import ActionDispatcher, RateLimits
from lectern_gateway.actions.registry import Action, ActionRegistry
from lectern_gateway.actions.schemas import DataModel, EmptyInput


class Done(DataModel):
    ok: bool


# Remembered only with a readable ``exp``: a JWT (its signature is the fake verifier's business).
GOOD = jwt.encode({"sub": "u1", "exp": int(time.time()) + 3600}, "k" * 32, algorithm="HS256")


class Verifier:
    def __init__(self) -> None:
        self.verified: list[str] = []

    async def verify(self, token: str) -> Identity:
        self.verified.append(token)
        if token != GOOD:
            raise errors.unauthenticated("the token is not valid")
        return Identity("u1")


class Limiter:
    """Records each round trip's buckets; refuses the bucket named ``empty``."""

    def __init__(self) -> None:
        self.trips: list[list[tuple[str, str]]] = []
        self.empty: str | None = None

    async def check_each(self, checks: list[tuple[str, Bucket]]) -> Decision:
        self.trips.append([(subject, bucket.name) for subject, bucket in checks])
        for _, bucket in checks:
            if bucket.name == self.empty:
                return Decision(False, 2.0, bucket.name)
        return Decision(True, 0.0, "")


def dispatcher() -> tuple[ActionDispatcher, Verifier, Limiter]:
    async def handler(ctx: Any, data: Any) -> Done:
        return Done(ok=True)

    action = Action("saveThing", EmptyInput, Done, handler, mutation=True, summary="", tag="t")
    verifier, limiter = Verifier(), Limiter()
    limits = RateLimits(every_action=Bucket("all", 600, 100), mutations=Bucket("mutations", 60, 10))
    built = ActionDispatcher(
        ActionRegistry([action]),
        authenticator=verifier,
        token_issuer=type("Issuer", (), {"issue": lambda self, identity: "internal"})(),
        idempotency=None,  # type: ignore[arg-type]
        rate_limiter=limiter,  # type: ignore[arg-type]
        rate_limits=limits,
    )
    return built, verifier, limiter


async def test_a_new_token_is_checked_after_the_client_bucket_and_a_known_one_in_one_round_trip() -> None:
    gateway, verifier, limiter = dispatcher()
    first = await gateway.run("saveThing", b"{}", bearer=GOOD, idempotency_key=None, client="10.0.0.1")
    second = await gateway.run("saveThing", b"{}", bearer=GOOD, idempotency_key=None, client="10.0.0.1")

    assert first.status == second.status == 200
    assert verifier.verified == [GOOD]  # verified once
    everything = [("client:10.0.0.1", "client"), ("user:u1", "all"), ("user:u1", "mutations")]
    assert limiter.trips == [everything[:1], everything[1:], everything]


async def test_the_client_bucket_still_refuses_first_and_bad_tokens_cost_no_verification_past_it() -> None:
    gateway, verifier, limiter = dispatcher()
    await gateway.run("saveThing", b"{}", bearer=GOOD, idempotency_key=None, client="10.0.0.1")
    limiter.empty = "client"

    known = await gateway.run("saveThing", b"{}", bearer=GOOD, idempotency_key=None, client="10.0.0.1")
    forged = await gateway.run("saveThing", b"{}", bearer="forged", idempotency_key=None, client="10.0.0.1")
    unknown = await gateway.run("launch", b"{}", bearer=GOOD, idempotency_key=None, client="10.0.0.1")

    for refused in (known, forged, unknown):
        assert refused.status == 429
        assert refused.body["error"]["code"] == ErrorKind.RATE_LIMITED.value
        assert refused.body["error"]["details"]["scope"] == "client"
    assert verifier.verified == [GOOD]  # the forged token was never checked


async def test_a_known_token_on_an_empty_user_bucket_is_refused_by_that_bucket() -> None:
    gateway, _, limiter = dispatcher()
    await gateway.run("saveThing", b"{}", bearer=GOOD, idempotency_key=None, client=None)
    limiter.empty = "mutations"
    refused = await gateway.run("saveThing", b"{}", bearer=GOOD, idempotency_key=None, client=None)
    assert refused.status == 429
    assert refused.body["error"]["details"]["scope"] == "mutations"
    assert limiter.trips[-1] == [("user:u1", "all"), ("user:u1", "mutations")]
