"""lectern_common.realtime_tokens: what the gateway signs is exactly what realtime accepts."""

from __future__ import annotations

import pytest
from lectern_common.identity import Identity, InternalTokenIssuer
from lectern_common.realtime_tokens import RealtimeTokenError, RealtimeTokenIssuer, RealtimeTokenVerifier

SECRET = "a-realtime-secret-of-at-least-32-bytes!!"


def test_a_token_carries_the_user_and_its_courses():
    issued = RealtimeTokenIssuer(SECRET, ttl_seconds=60).issue("u1", ["c2", "c1", "c1"])
    claims = RealtimeTokenVerifier(SECRET).verify(issued.token)
    assert claims.user_id == "u1"
    assert claims.course_ids == frozenset({"c1", "c2"})
    assert claims.expires_at == issued.expires_at


def test_an_internal_service_token_cannot_open_a_socket():
    internal = InternalTokenIssuer(SECRET).issue(Identity(user_id="u1"))
    with pytest.raises(RealtimeTokenError) as refused:
        RealtimeTokenVerifier(SECRET).verify(internal)
    assert refused.value.reason == "invalid"


def test_an_expired_token_says_expired():
    token = RealtimeTokenIssuer(SECRET, ttl_seconds=-60).issue("u1").token
    with pytest.raises(RealtimeTokenError) as refused:
        RealtimeTokenVerifier(SECRET, leeway_seconds=0).verify(token)
    assert refused.value.reason == "expired"


def test_a_short_secret_is_refused_at_start():
    with pytest.raises(ValueError):
        RealtimeTokenIssuer("short")
