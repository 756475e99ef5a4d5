"""``grpc_client.call``'s retries stay inside the caller's timeout.

The peer here is a stand-in coroutine that answers UNAVAILABLE (a unit test of the retry
arithmetic); calls over real channels are in test_grpc_server.py and the services' tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from lectern_common.errors import DomainError
from lectern_common.grpc_client import call


def unavailable_peer(timeouts: list[float]) -> Callable[..., Awaitable[object]]:
    async def method(request: object, *, metadata: object, timeout: float) -> object:
        timeouts.append(timeout)
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down")

    return method


async def test_retries_share_one_deadline_and_stop_when_the_next_could_not_finish() -> None:
    timeouts: list[float] = []

    with pytest.raises(DomainError) as refused:
        await call(unavailable_peer(timeouts), object(), token="t", timeout=2.0, retry_unavailable=True, attempts=5)

    assert refused.value.code == "peer.unavailable"
    # Backoff 0.1, 0.3, 0.9 s: after the fourth attempt (1.3 s of sleeping) the next 2.7 s wait
    # cannot end before the deadline, so the fifth attempt is never made.
    assert len(timeouts) == 4
    assert timeouts[0] <= 2.0
    assert timeouts == sorted(timeouts, reverse=True)
    assert timeouts[3] <= 2.0 - 1.3


async def test_without_retries_one_attempt_gets_the_whole_timeout() -> None:
    timeouts: list[float] = []

    with pytest.raises(DomainError):
        await call(unavailable_peer(timeouts), object(), token="t", timeout=2.0)

    assert len(timeouts) == 1 and 1.0 < timeouts[0] <= 2.0
